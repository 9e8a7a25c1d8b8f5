// The connection's keep-alive (static/chat/connection.js), on mocked timers and a fake socket:
// a ping only after pingIntervalMs without a frame the server answers (a ping, a message sent),
// each such frame a liveness check of its own, and what the page puts on its pings.
import assert from "node:assert/strict";
import { afterEach, beforeEach, mock, test } from "node:test";

import { Connection } from "../../static/chat/connection.js";

class FakeSocket {
  static OPEN = 1;
  static sockets = [];

  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.closedWith = null;
    this.listeners = {};
    FakeSocket.sockets.push(this);
  }

  addEventListener(type, listener) {
    (this.listeners[type] ??= []).push(listener);
  }

  removeEventListener(type, listener) {
    this.listeners[type] = (this.listeners[type] ?? []).filter((l) => l !== listener);
  }

  emit(type, event = {}) {
    for (const listener of [...(this.listeners[type] ?? [])]) listener(event);
  }

  send(data) {
    this.sent.push(JSON.parse(data));
  }

  close(code, reason) {
    this.closedWith = [code, reason];
    this.readyState = 3;
    this.emit("close", {});
  }

  actions() {
    return this.sent.map((frame) => frame.action);
  }
}

const INTERVAL = 7 * 60_000;
const PONG_TIMEOUT = 20_000;

async function live({ pingFields } = {}) {
  FakeSocket.sockets = [];
  const pinged = [];
  const connection = new Connection({
    fetchToken: async () => ({ token: "t", websocket_url: "wss://example.test" }),
    room: "general",
    onFrame: () => {},
    onOpen: () => {},
    onState: () => {},
    onSessionEnded: () => {},
    pingFields,
    onPinged: (fields) => pinged.push(fields),
  });
  connection.start();
  const ws = await handshake("open");
  assert.equal(connection.socket, ws);
  return { connection, ws, pinged };
}

const hadNavigator = "navigator" in globalThis;

beforeEach(() => {
  globalThis.WebSocket = FakeSocket;
  if (!hadNavigator) globalThis.navigator = { onLine: true }; // node 20 has none
  mock.timers.enable({ apis: ["setTimeout", "setInterval"] });
});

afterEach(() => {
  mock.timers.reset();
  mock.restoreAll();
  delete globalThis.WebSocket;
  if (!hadNavigator) delete globalThis.navigator;
});

test("an idle socket is pinged once per interval, no sooner", async () => {
  const { connection, ws } = await live();
  mock.timers.tick(INTERVAL - 1);
  assert.deepEqual(ws.actions(), []);
  mock.timers.tick(1);
  assert.deepEqual(ws.actions(), ["ping"]);
  ws.emit("message", { data: JSON.stringify({ type: "pong", rev: 3 }) });
  mock.timers.tick(INTERVAL);
  assert.deepEqual(ws.actions(), ["ping", "ping"]);
  connection.stop();
});

test("frames heard do not ping; a message sent puts the next ping an interval after it", async () => {
  const { connection, ws } = await live();
  mock.timers.tick(INTERVAL / 2);
  for (let n = 0; n < 10; n += 1) {
    ws.emit("message", { data: JSON.stringify({ type: "message", id: `m${n}`, rev: n + 1 }) });
  }
  assert.deepEqual(ws.actions(), []); // nothing per change heard
  connection.send({ action: "sendmessage", message: "hi", clientMessageId: "c1" });
  ws.emit("message", { data: JSON.stringify({ type: "message", id: "m10", rev: 11 }) }); // echo
  mock.timers.tick(INTERVAL - 1);
  assert.deepEqual(ws.actions(), ["sendmessage"]);
  mock.timers.tick(1);
  assert.deepEqual(ws.actions(), ["sendmessage", "ping"]);
  ws.emit("message", { data: JSON.stringify({ type: "pong", rev: 11 }) });
  // Frames the server does not answer (typing, markread) leave the keep-alive as it was.
  connection.send({ action: "typing" });
  mock.timers.tick(INTERVAL);
  assert.deepEqual(ws.actions(), ["sendmessage", "ping", "typing", "ping"]);
  connection.stop();
});

test("a message sent that nothing answers is a dead socket, as an unanswered ping is", async () => {
  const { connection, ws } = await live();
  connection.send({ action: "sendmessage", message: "hi", clientMessageId: "c1" });
  mock.timers.tick(PONG_TIMEOUT - 1);
  assert.equal(ws.closedWith, null);
  mock.timers.tick(1);
  assert.deepEqual(ws.closedWith, [4000, "no pong"]);
  assert.equal(connection.socket, null);
  connection.stop();
});

test("each ping carries what the page gives it, and the page hears what went", async () => {
  let read = "01JREAD";
  const { connection, ws, pinged } = await live({
    pingFields: () => (read ? { read } : {}),
  });
  mock.timers.tick(INTERVAL);
  read = null;
  ws.emit("message", { data: JSON.stringify({ type: "pong", rev: 1 }) });
  mock.timers.tick(INTERVAL);
  assert.deepEqual(ws.sent, [{ read: "01JREAD", action: "ping" }, { action: "ping" }]);
  assert.deepEqual(pinged, [{ read: "01JREAD" }, {}]);
  connection.stop();
});

// Storage failing behind the live socket while its gateway stays up (a Region whose tables fail):
// after three `unavailable` answers in a row the page opens another socket through the domain,
// taken if its handshake succeeds, the old one kept if not.
const UNAVAILABLE = JSON.stringify({ type: "error", code: "unavailable", action: "sendmessage" });

/** The socket just made opens (or its handshake is refused): the token, then `new WebSocket`. */
async function handshake(outcome) {
  await new Promise((resolve) => setImmediate(resolve)); // the token, then `new WebSocket`
  const ws = FakeSocket.sockets.at(-1);
  if (outcome === "open") {
    ws.readyState = FakeSocket.OPEN;
    ws.emit("open");
  } else ws.emit("close");
  await new Promise((resolve) => setImmediate(resolve));
  return ws;
}

function refuse(ws, times, { at = 0 } = {}) {
  mock.method(Math, "random", () => at); // where in the hold the move goes
  for (let n = 0; n < times; n += 1) ws.emit("message", { data: UNAVAILABLE });
  mock.timers.tick(0);
}

test("three `unavailable` answers in a row hand over to a new socket; fewer, or others, do not", async () => {
  const { connection, ws } = await live();
  refuse(ws, 2);
  ws.emit("message", { data: JSON.stringify({ type: "pong", rev: 1 }) }); // answered: reset
  refuse(ws, 2);
  ws.emit("message", { data: JSON.stringify({ type: "error", code: "rate_limited" }) });
  assert.equal(FakeSocket.sockets.length, 1);
  refuse(ws, 1);
  const next = await handshake("open");
  assert.equal(FakeSocket.sockets.length, 2);
  assert.equal(connection.socket, next);
  assert.deepEqual(ws.closedWith, [1000, "replaced"]);
  connection.stop();
});

test("a refused handshake keeps the old socket; the next try waits a hold that doubles", async () => {
  const { connection, ws } = await live();
  refuse(ws, 3);
  await handshake("refused"); // one Region, storage down: $connect fails too
  assert.equal(connection.socket, ws);
  assert.equal(ws.closedWith, null);
  refuse(ws, 6);
  assert.equal(FakeSocket.sockets.length, 2); // held 5 s
  mock.timers.tick(5_000);
  refuse(ws, 3);
  await handshake("refused");
  assert.equal(FakeSocket.sockets.length, 3);
  mock.timers.tick(5_000);
  refuse(ws, 3);
  assert.equal(FakeSocket.sockets.length, 3); // now held 10 s
  mock.timers.tick(5_000);
  refuse(ws, 3);
  await handshake("open");
  assert.equal(FakeSocket.sockets.length, 4);
  assert.equal(connection.socket, FakeSocket.sockets[3]);
  connection.stop();
});

test("the move goes at a random moment within the hold, and not if a frame is answered first", async () => {
  const { connection, ws } = await live();
  refuse(ws, 3, { at: 0.5 });
  mock.timers.tick(2_499);
  assert.equal(FakeSocket.sockets.length, 1);
  mock.timers.tick(1);
  await handshake("refused");
  assert.equal(FakeSocket.sockets.length, 2);
  mock.timers.tick(2_500); // the hold over
  refuse(ws, 3, { at: 0.5 });
  ws.emit("message", { data: JSON.stringify({ type: "pong", rev: 1 }) }); // served again
  mock.timers.tick(10_000);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(FakeSocket.sockets.length, 2);
  connection.stop();
});
