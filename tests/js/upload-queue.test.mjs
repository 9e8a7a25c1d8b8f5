// The attachments' state machine (static/chat/upload-queue.js), on a fake clock and transport.
import assert from "node:assert/strict";
import { test } from "node:test";

import { UploadError, UploadQueue } from "../../static/chat/upload-queue.js";

class Clock {
  constructor() { this.time = 0; this.timers = new Map(); this.next = 1; }
  now = () => this.time;
  setTimeout = (fn, ms) => { const id = this.next++; this.timers.set(id, { at: this.time + ms, fn }); return id; };
  clearTimeout = (id) => { this.timers.delete(id); };
  async advance(ms) {
    const end = this.time + ms;
    for (;;) {
      await flush();
      const due = [...this.timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.time = due[1].at;
      due[1].fn();
    }
    this.time = end;
    await flush();
  }
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

/** A transport whose every step the test answers by hand. */
class Transport {
  constructor() {
    this.created = [];
    this.sends = [];
    this.polls = [];
    this.statuses = new Map(); // id -> answers, in turn (the last repeats)
    this.refuse = new Map(); // name -> UploadError
    this.ids = 0;
  }
  create = async (file) => {
    this.created.push(file);
    if (this.refuse.has(file.name)) throw this.refuse.get(file.name);
    return { id: `f${++this.ids}`, url: "http://s3/bucket", fields: { key: "k" }, max_bytes: 1000 };
  };
  send = (upload, file, onProgress) => {
    let settle;
    const done = new Promise((resolve, reject) => { settle = { resolve, reject }; });
    const sending = { upload, file, onProgress, aborted: false, ...settle };
    this.sends.push(sending);
    return { done, abort: () => { sending.aborted = true; settle.reject(new Error("aborted")); } };
  };
  status = async (id) => {
    this.polls.push(id);
    const answers = this.statuses.get(id) ?? [{ state: "pending" }];
    return answers.length > 1 ? answers.shift() : answers[0];
  };
}

function make() {
  const clock = new Clock();
  const transport = new Transport();
  const changes = [];
  const queue = new UploadQueue({
    transport,
    timers: clock,
    now: clock.now,
    onChange: (item, change) => changes.push({ key: item.key, state: item.state, ...change }),
  });
  return { clock, transport, queue, changes };
}

const file = (name, size = 100, type = "image/png") => ({ name, size, type });

test("a file goes requesting, uploading with progress, checking, then ready", async () => {
  const { clock, transport, queue } = make();
  const [item] = queue.add([file("a.png")]);
  assert.equal(item.state, "requesting");
  assert.deepEqual(transport.created, [{ name: "a.png", size: 100, type: "image/png" }]);
  await flush();
  assert.equal(item.state, "uploading");
  assert.equal(item.id, "f1");
  transport.sends[0].onProgress(0.4);
  assert.equal(item.progress, 0.4);
  transport.sends[0].onProgress(0.2); // progress never goes back
  assert.equal(item.progress, 0.4);
  assert.equal(queue.allReady, false);
  assert.equal(queue.busy, true);
  transport.statuses.set("f1", [{ state: "pending" }, { state: "ready" }]);
  transport.sends[0].resolve();
  await flush();
  assert.equal(item.state, "checking");
  await clock.advance(250);
  assert.equal(item.state, "checking");
  await clock.advance(400); // the second poll waits longer (backoff)
  assert.equal(item.state, "ready");
  assert.deepEqual(transport.polls, ["f1", "f1"]);
  assert.equal(queue.allReady, true);
  assert.equal(queue.busy, false);
  assert.deepEqual(queue.readyIds(), ["f1"]);
  assert.equal(clock.timers.size, 0); // no more polling
});

test("a refusal of the site fails the file with its code and sends nothing to S3", async () => {
  const { transport, queue } = make();
  transport.refuse.set("big.bin", new UploadError("file_too_large", "too big", { maxBytes: 1000 }));
  const [item] = queue.add([file("big.bin", 5000, "application/octet-stream")]);
  await flush();
  assert.equal(item.state, "failed");
  assert.equal(item.code, "file_too_large");
  assert.equal(item.maxBytes, 1000);
  assert.equal(transport.sends.length, 0);
  assert.deepEqual(queue.readyIds(), []);
  assert.equal(queue.busy, false);
  assert.equal(queue.allReady, false);
});

test("a file the server's check rejects fails with its reason", async () => {
  const { clock, transport, queue } = make();
  const [item] = queue.add([file("fake.png")]);
  await flush();
  transport.statuses.set("f1", [{ state: "rejected", reason: "not an image" }]);
  transport.sends[0].resolve();
  await clock.advance(300);
  assert.equal(item.state, "failed");
  assert.equal(item.code, "rejected");
  assert.equal(item.reason, "not an image");
});

test("removing an uploading file aborts its upload; the others go on", async () => {
  const { clock, transport, queue, changes } = make();
  const [a, b] = queue.add([file("a.png"), file("b.png")]);
  await flush();
  queue.remove(a.key);
  assert.equal(transport.sends[0].aborted, true);
  assert.deepEqual(changes.at(-1), { key: a.key, state: "uploading", removed: true });
  transport.statuses.set("f2", [{ state: "ready" }]);
  transport.sends[1].resolve();
  await clock.advance(300);
  assert.equal(b.state, "ready");
  assert.deepEqual(queue.readyIds(), ["f2"]);
  assert.equal(queue.list().length, 1);
});

test("removing a file being checked stops its polling", async () => {
  const { clock, transport, queue } = make();
  const [item] = queue.add([file("a.png")]);
  await flush();
  transport.sends[0].resolve();
  await flush();
  assert.equal(item.state, "checking");
  queue.remove(item.key);
  await clock.advance(10_000);
  assert.deepEqual(transport.polls, []);
  assert.equal(clock.timers.size, 0);
});

test("a file removed while its presigned POST is asked for never uploads", async () => {
  const { transport, queue } = make();
  const [item] = queue.add([file("a.png")]);
  queue.remove(item.key);
  await flush();
  assert.equal(transport.sends.length, 0);
  assert.equal(queue.size, 0);
});

test("an upload that fails (S3 refused it, the network went) says so", async () => {
  const { transport, queue } = make();
  const [item] = queue.add([file("a.png")]);
  await flush();
  transport.sends[0].reject(new UploadError("file_too_large"));
  await flush();
  assert.equal(item.state, "failed");
  assert.equal(item.code, "file_too_large");
  assert.equal(item.maxBytes, 1000); // from the presigned POST's answer
});

test("a check that never ends is given up", async () => {
  const { clock, transport, queue } = make();
  const [item] = queue.add([file("a.png")]);
  await flush();
  transport.sends[0].resolve();
  await clock.advance(95_000);
  assert.equal(item.state, "failed");
  assert.equal(item.code, "check_timeout");
  assert.ok(transport.polls.length < 60, `polled ${transport.polls.length} times`); // backoff
});

test("a poll lost to the network is tried again", async () => {
  const { clock, transport, queue } = make();
  const [item] = queue.add([file("a.png")]);
  await flush();
  let calls = 0;
  transport.status = async () => {
    calls += 1;
    if (calls === 1) throw new TypeError("Failed to fetch");
    return { state: "ready" };
  };
  transport.sends[0].resolve();
  await clock.advance(1000);
  assert.equal(item.state, "ready");
});

test("sent() takes the ready files out without aborting anything", async () => {
  const { clock, transport, queue } = make();
  const [a, b] = queue.add([file("a.png"), file("b.png")]);
  await flush();
  transport.statuses.set("f1", [{ state: "ready" }]);
  transport.sends[0].resolve();
  await clock.advance(300);
  assert.deepEqual(queue.readyFiles(), [{ id: "f1", name: "a.png", size: 100, type: "image/png", thumb: false }]);
  queue.sent();
  assert.deepEqual(queue.list(), [b]);
  assert.equal(transport.sends[1].aborted, false);
  assert.equal(a.state, "ready");
});

test("a pasted file without a name gets one", async () => {
  const { queue } = make();
  const [item] = queue.add([{ name: "", size: 5, type: "image/png" }]);
  assert.equal(item.name, "pasted-image-1.png");
});
