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

// -- across a reload: snapshot() is what uploads.js keeps in storage, restore() a new page's -----

/** A queue with one file of each state: ready (f1), checking (f2), uploading (f3), requesting,
 * refused by the site. */
async function everyState() {
  const made = make();
  const { clock, transport, queue } = made;
  transport.refuse.set("setup.exe", new UploadError("type_not_allowed"));
  let answer;
  const create = transport.create;
  queue.add([file("a.png"), file("b.png"), file("c.txt", 10, "text/plain")]);
  await flush();
  transport.create = (f) => new Promise((resolve) => { answer = () => resolve(create(f)); });
  queue.add([file("d.pdf", 20, "application/pdf")]);
  transport.create = create;
  queue.add([file("setup.exe", 30, "application/x-msdownload")]);
  transport.statuses.set("f1", [{ state: "ready" }]);
  transport.sends[0].resolve();
  transport.sends[1].resolve();
  await clock.advance(300);
  return { ...made, answer };
}

test("a snapshot keeps ready and checking files by id, the rest as failed, in order", async () => {
  const { queue, clock } = await everyState();
  assert.deepEqual(queue.list().map((i) => i.state), ["ready", "checking", "uploading", "requesting", "failed"]);
  const snapshot = queue.snapshot();
  assert.deepEqual(snapshot, {
    v: 1,
    at: clock.now(),
    files: [
      { name: "a.png", size: 100, type: "image/png", id: "f1", state: "ready" },
      { name: "b.png", size: 100, type: "image/png", id: "f2", state: "checking" },
      { name: "c.txt", size: 10, type: "text/plain", state: "failed", code: "interrupted" },
      { name: "d.pdf", size: 20, type: "application/pdf", state: "failed", code: "interrupted" },
      { name: "setup.exe", size: 30, type: "application/x-msdownload", state: "failed", code: "type_not_allowed",
        reason: null, message: "type_not_allowed", maxBytes: null },
    ],
  });
  // JSON-safe, and equal while only progress moves (uploads.js writes storage on a change only)
  assert.deepEqual(JSON.parse(JSON.stringify(snapshot)), snapshot);
  queue.items.get("u3").progress = 0.5;
  assert.deepEqual(queue.snapshot(), snapshot);
});

test("only bytes still in the page make leaving it lose something", async () => {
  const { queue, transport, clock, answer } = await everyState();
  assert.equal(queue.uploading, true);
  transport.sends[2].resolve(); // c.txt uploaded: checking
  answer(); // d.pdf's POST…
  await flush();
  assert.equal(queue.uploading, true); // …and now its upload
  transport.sends[3].resolve();
  await clock.advance(10);
  assert.deepEqual(queue.list().map((i) => i.state), ["ready", "checking", "checking", "checking", "failed"]);
  assert.equal(queue.uploading, false); // being checked survives a reload
  assert.equal(queue.busy, true);
});

test("a new page gets ready files back ready, checks again the checking ones, keeps failures", async () => {
  const { queue } = await everyState();
  const saved = JSON.parse(JSON.stringify(queue.snapshot()));
  // Given a new page's queue (a new transport: nothing of the old one's uploads)
  const next = make();
  next.clock.time = saved.at + 60_000;
  next.transport.statuses.set("f2", [{ state: "pending" }, { state: "ready" }]);
  const restored = next.queue.restore(saved);
  assert.deepEqual(restored.map((i) => [i.name, i.state, i.id, i.code]), [
    ["a.png", "ready", "f1", null],
    ["b.png", "checking", "f2", null],
    ["c.txt", "failed", null, "interrupted"],
    ["d.pdf", "failed", null, "interrupted"],
    ["setup.exe", "failed", null, "type_not_allowed"],
  ]);
  assert.equal(next.queue.uploading, false);
  assert.deepEqual(next.transport.created, []); // nothing uploaded again
  assert.deepEqual(next.changes.map((c) => c.state), ["ready", "checking", "failed", "failed", "failed"]);
  // Then the checking one is polled until it is ready, and a message may take the ready ids
  await next.clock.advance(1000);
  assert.deepEqual(next.transport.polls, ["f2", "f2"]);
  assert.equal(restored[1].state, "ready");
  next.queue.remove(restored[2].key);
  next.queue.remove(restored[3].key);
  next.queue.remove(restored[4].key);
  assert.equal(next.queue.allReady, true);
  assert.deepEqual(next.queue.readyIds(), ["f1", "f2"]);
  // New files after them take keys of their own
  const [added] = next.queue.add([file("e.png")]);
  assert.ok(!restored.some((i) => i.key === added.key));
});

test("files kept too long come back expired; a snapshot of another shape, nothing", async () => {
  const { queue } = await everyState();
  const saved = queue.snapshot();
  const next = make();
  next.clock.time = saved.at + 13 * 60 * 60_000;
  const restored = next.queue.restore(saved);
  assert.deepEqual(restored.map((i) => i.code), ["expired", "expired", "interrupted", "interrupted", "type_not_allowed"]);
  assert.deepEqual(next.transport.polls, []);
  const other = make();
  assert.deepEqual(other.queue.restore(null), []);
  assert.deepEqual(other.queue.restore({ v: 99, files: saved.files }), []);
  assert.deepEqual(other.queue.restore({ v: 1, at: 0, files: [{ id: "x" }, null] }), []);
  assert.equal(other.queue.size, 0);
});
