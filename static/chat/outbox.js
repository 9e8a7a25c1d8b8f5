// The outbox: every message the page sends, from the Enter key until the server's copy comes
// back. It knows nothing about the DOM (the page renders what `onChange` tells it) and takes its
// clock, timers and storage as arguments, so `node --test` drives it (tests/js/outbox.test.mjs).
//
// A send is `pending` (on its way, or queued behind an earlier one), `waiting` for a reason
// (`offline`, `rate_limited`, `unavailable`: it goes again by itself), or `failed` with the code
// of a refusal that sending again cannot fix (it stays, with its text, until the person retries,
// edits or discards it). Delivered, it leaves the outbox.
//
// One send is in flight at a time, in the order they were written: a refused send (the rate
// limit) holds back the ones after it, so they arrive in order, each exactly once (every send
// carries its `clientMessageId`; the server stores a repeat once). Unsent messages are kept in
// storage (the page's localStorage), so a reload sends them, once, when it is live again.
// A message with files (uploads.js: sent once they are all uploaded and checked) carries them
// as `files`, `{id, name, size, type}` each: their ids go in the frame, the rest shows them
// while it is on its way; its text may then be empty.

// Refusals the server may lift by itself: the send waits and goes again.
const WAIT_REASONS = { rate_limited: "rate_limited", unavailable: "unavailable", internal: "unavailable" };
// Refusals of the socket rather than of the send: it goes again on the next socket.
const RECONNECT_CODES = new Set(["not_connected", "region_moved"]);
// What a send may wait for that a new socket ends.
const RESUMED_ON_OPEN = new Set(["offline", "reconnecting", "unavailable"]);

export const DEFAULT_OUTBOX_TIMINGS = {
  // No copy back this long after a send (a lost frame, a function that timed out): send it
  // again, with the same clientMessageId.
  ackTimeoutMs: 15_000,
  // `unavailable` and `internal`: wait this long, doubling up to the most, then give up.
  retryFirstMs: 1000,
  retryMaxMs: 30_000,
  retryAttempts: 6, // sent again at most this many times
  // Unsent this long (a tab left closed overnight): no longer sent by itself. The server keeps
  // a clientMessageId's receipt for a day (lambdas/services/messages.py), so a resend within
  // this age is still stored once.
  maxAgeMs: 12 * 60 * 60_000,
};

function randomId() {
  if (globalThis.crypto?.randomUUID) return globalThis.crypto.randomUUID();
  // randomUUID exists only on secure origins; getRandomValues works everywhere.
  return Array.from(globalThis.crypto.getRandomValues(new Uint8Array(16)), (byte) =>
    byte.toString(16).padStart(2, "0")).join("");
}

export class Outbox {
  /**
   * @param {object} options
   * @param {(frame: object) => boolean} options.send sends on the live socket; false if none
   * @param {(entry: object, change: {removed?: boolean}) => void} [options.onChange] an entry
   *   was added, changed state, or left (delivered or discarded)
   * @param {Storage | null} [options.storage] where unsent messages survive a reload
   * @param {string} [options.key] the storage key's prefix: one user's sends in one room
   * @param {() => number} [options.now]
   * @param {{setTimeout: Function, clearTimeout: Function}} [options.timers]
   * @param {object} [options.timings] overrides of DEFAULT_OUTBOX_TIMINGS
   * @param {() => string} [options.newId]
   */
  constructor({
    send,
    onChange = () => {},
    storage = null,
    key = "dynamowave.outbox",
    now = () => Date.now(),
    timers = globalThis,
    timings = {},
    newId = randomId,
  }) {
    this.sendFrame = send;
    this.onChange = onChange;
    this.storage = storage;
    this.prefix = `${key}.`;
    this.now = now;
    this.timers = timers;
    this.timings = { ...DEFAULT_OUTBOX_TIMINGS, ...timings };
    this.newId = newId;
    this.entries = new Map(); // clientMessageId -> entry, in the order written
    this.live = false;
    this.inflight = null; // the clientMessageId sent and not yet answered
    this.ackTimer = null;
    this.waitTimer = null;
    this.counter = 0; // orders entries written in the same millisecond
  }

  has(clientMessageId) {
    return this.entries.has(clientMessageId);
  }

  get(clientMessageId) {
    return this.entries.get(clientMessageId);
  }

  /** Every entry, in the order written. */
  list() {
    return [...this.entries.values()];
  }

  /** A new message (with its uploaded files, if any): it goes out now if it is first in line
   * and the socket is live. */
  add(text, { files = [] } = {}) {
    const entry = this.entry(this.newId(), text, this.now(), files);
    this.entries.set(entry.id, entry);
    this.save(entry);
    this.onChange(entry, {});
    this.pump();
    return entry;
  }

  /** A new entry: pending, or waiting for a socket when there is none. */
  entry(id, text, createdAt, files = []) {
    return {
      id,
      text,
      files: cleanFiles(files),
      createdAt,
      order: this.counter++,
      state: this.live ? "pending" : "waiting",
      reason: this.live ? null : "offline",
      code: null,
      message: null,
      retryAt: null,
      attempts: 0,
    };
  }

  /** The unsent messages a previous page left in storage (sent once the socket is live);
   * those too old to send by themselves come back failed. */
  restore() {
    if (!this.storage) return [];
    const found = [];
    for (const name of this.storageKeys()) {
      let saved;
      try {
        saved = JSON.parse(this.storage.getItem(name));
      } catch {
        saved = null;
      }
      const id = name.slice(this.prefix.length);
      if (!saved || typeof saved.text !== "string" || this.entries.has(id)) continue;
      found.push({ id, ...saved });
    }
    found.sort((a, b) => a.createdAt - b.createdAt || a.order - b.order);
    for (const saved of found) {
      const entry = this.entry(saved.id, saved.text, Number(saved.createdAt) || this.now(), saved.files);
      if (saved.state === "failed") {
        Object.assign(entry, { state: "failed", reason: null, code: saved.code, message: saved.message });
      } else if (this.now() - entry.createdAt > this.timings.maxAgeMs) {
        Object.assign(entry, {
          state: "failed",
          reason: null,
          code: "expired",
          message: "not sent for hours: send it again if it still matters",
        });
      }
      this.entries.set(entry.id, entry);
      this.save(entry);
      this.onChange(entry, {});
    }
    this.pump();
    return found;
  }

  /** A socket is live: what waited for one goes now (the one in flight, again), and so does
   * what waited out `unavailable` (a new socket may be served elsewhere: another Region). */
  opened() {
    this.live = true;
    this.inflight = null;
    this.timers.clearTimeout(this.ackTimer);
    for (const entry of this.entries.values()) {
      if (entry.state === "waiting" && RESUMED_ON_OPEN.has(entry.reason)) {
        this.setState(entry, "pending");
      }
    }
    this.pump();
  }

  /** The socket is gone: everything unsent waits for the next one. */
  closed() {
    this.live = false;
    this.inflight = null;
    this.timers.clearTimeout(this.ackTimer);
    this.timers.clearTimeout(this.waitTimer);
    for (const entry of this.entries.values()) {
      if (entry.state !== "failed") this.setState(entry, "waiting", { reason: "offline" });
    }
  }

  /** The server's copy of a send came back (live, as a repeat's answer, or through history):
   * delivered. True if it was this outbox's. */
  acknowledged(clientMessageId) {
    const entry = this.entries.get(clientMessageId);
    this.forget(clientMessageId); // another tab's send of the same id: stored once all the same
    if (!entry) return false;
    this.entries.delete(clientMessageId);
    if (this.inflight === clientMessageId) {
      this.inflight = null;
      this.timers.clearTimeout(this.ackTimer);
    }
    this.onChange(entry, { removed: true });
    this.pump();
    return true;
  }

  /**
   * The server refused a send (an error frame naming its clientMessageId). True if it was this
   * outbox's. Rate limited or unavailable: it waits and goes again by itself; `not_connected`
   * and `region_moved` (this Region no longer takes writes: the page reconnects, through the
   * domain, to the active one): it waits for the next socket; anything else: failed for good.
   */
  refused(clientMessageId, { code, message = "", retryAfter = null } = {}) {
    const entry = this.entries.get(clientMessageId);
    if (!entry) return false;
    if (this.inflight === clientMessageId) {
      this.inflight = null;
      this.timers.clearTimeout(this.ackTimer);
    }
    if (entry.state === "failed") return true;
    const reason = WAIT_REASONS[code];
    if (RECONNECT_CODES.has(code)) {
      this.setState(entry, "waiting", { reason: "reconnecting" });
    } else if (reason === "rate_limited") {
      const wait = Math.max(Number(retryAfter) || 0, 0.05) * 1000;
      this.setState(entry, "waiting", { reason, retryAt: this.now() + wait });
    } else if (reason && entry.attempts <= this.timings.retryAttempts) {
      const backoff = this.timings.retryFirstMs * 2 ** Math.max(entry.attempts - 1, 0);
      const wait = Math.min(this.timings.retryMaxMs, backoff);
      this.setState(entry, "waiting", { reason, retryAt: this.now() + wait });
    } else {
      this.setState(entry, "failed", { code: String(code || "internal"), message: String(message) });
    }
    this.pump();
    return true;
  }

  /** A failed send, again (Retry): with the same clientMessageId, so it is stored at most once. */
  retry(clientMessageId) {
    const entry = this.entries.get(clientMessageId);
    if (!entry || entry.state !== "failed") return;
    entry.attempts = 0;
    entry.createdAt = this.now(); // no longer "expired"
    if (this.live) this.setState(entry, "pending");
    else this.setState(entry, "waiting", { reason: "offline" });
    this.pump();
  }

  /** Take a send out (Discard, or Edit, which puts its text back in the composer). */
  discard(clientMessageId) {
    const entry = this.entries.get(clientMessageId);
    if (!entry || entry.id === this.inflight) return null;
    this.entries.delete(clientMessageId);
    this.forget(clientMessageId);
    this.onChange(entry, { removed: true });
    this.pump();
    return entry;
  }

  // -- sending -----------------------------------------------------------------------------

  /** Send the first entry in line, unless one is in flight or the first must wait. */
  pump() {
    if (!this.live || this.inflight !== null) return;
    const head = [...this.entries.values()].find((entry) => entry.state !== "failed");
    if (!head) return;
    this.timers.clearTimeout(this.waitTimer);
    if (head.state === "waiting" && head.retryAt !== null) {
      const wait = head.retryAt - this.now();
      if (wait > 0) {
        this.waitTimer = this.timers.setTimeout(() => this.pump(), wait);
        this.holdBehind(head);
        return;
      }
    }
    if (head.state === "waiting" && head.reason === "reconnecting") return; // opened() resumes
    const frame = { action: "sendmessage", message: head.text, clientMessageId: head.id };
    if (head.files.length) frame.files = head.files.map((file) => file.id);
    const sent = this.sendFrame(frame);
    if (!sent) {
      this.closed(); // the socket went without the page hearing yet
      return;
    }
    head.attempts += 1;
    this.inflight = head.id;
    this.setState(head, "pending");
    this.ackTimer = this.timers.setTimeout(() => {
      if (this.inflight !== head.id) return;
      this.inflight = null;
      this.pump();
    }, this.timings.ackTimeoutMs);
  }

  /** The sends behind a waiting one wait for the same reason: they go after it. */
  holdBehind(head) {
    let behind = false;
    for (const entry of this.entries.values()) {
      if (entry === head) behind = true;
      else if (behind && entry.state === "pending") {
        this.setState(entry, "waiting", { reason: head.reason });
      }
    }
  }

  setState(entry, state, { reason = null, code = null, message = null, retryAt = null } = {}) {
    const same = entry.state === state && entry.reason === reason && entry.code === code
      && entry.retryAt === retryAt;
    Object.assign(entry, { state, reason, code, message, retryAt });
    if (same) return;
    this.save(entry);
    this.onChange(entry, {});
  }

  // -- storage -------------------------------------------------------------------------------

  storageKeys() {
    const names = [];
    try {
      for (let i = 0; i < this.storage.length; i += 1) {
        const name = this.storage.key(i);
        if (name?.startsWith(this.prefix)) names.push(name);
      }
    } catch {
      return []; // storage disabled: the page still works, without surviving a reload
    }
    return names;
  }

  save(entry) {
    if (!this.storage) return;
    const saved = { text: entry.text, createdAt: entry.createdAt, order: entry.order };
    if (entry.files.length) saved.files = entry.files;
    if (entry.state === "failed") Object.assign(saved, { state: "failed", code: entry.code, message: entry.message });
    try {
      this.storage.setItem(this.prefix + entry.id, JSON.stringify(saved));
    } catch {
      // Full or disabled: the send still goes; it would not survive a reload.
    }
  }

  forget(clientMessageId) {
    try {
      this.storage?.removeItem(this.prefix + clientMessageId);
    } catch {
      // as in save()
    }
  }
}

/** A send's files as kept (and stored): id, name, size and type, nothing else. */
function cleanFiles(files) {
  if (!Array.isArray(files)) return [];
  return files.filter((file) => typeof file?.id === "string" && file.id).map((file) => ({
    id: file.id,
    name: String(file.name ?? ""),
    size: Number(file.size) || 0,
    type: String(file.type ?? ""),
  }));
}
