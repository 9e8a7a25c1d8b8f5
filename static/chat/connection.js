// One live WebSocket to a room: a fresh token per attempt, reconnects with capped exponential
// backoff and full jitter, application-level pings, and a planned hand-over before API Gateway's
// two-hour limit. It knows nothing about the DOM: the page hears about it through callbacks.

export const DEFAULT_TIMINGS = {
  backoffBaseMs: 1000,
  backoffMaxMs: 30_000,
  // API Gateway closes a socket idle for 10 minutes, and control-frame pings do not count.
  // Every ping is two billed messages (it and its pong): one only after this long without a
  // frame the server answers (ANSWERED_ACTIONS), with room for a hidden tab's timers, which
  // browsers delay by up to a minute. The pong names the room's last change, as a message's own
  // copy does, so a lost last message is found within this interval.
  pingIntervalMs: 7 * 60_000,
  // A ping unanswered this long means a dead socket the browser has not noticed yet.
  pongTimeoutMs: 20_000,
  // API Gateway closes every socket after 2 hours: hand over to a new one before that.
  refreshAfterMs: 110 * 60_000,
  // A socket must stay open this long before the backoff starts again from the bottom, so a
  // server that accepts and at once drops us is not hammered.
  stableAfterMs: 10_000,
  // Frames answered `unavailable` in a row on the live socket before the page opens another
  // (storage failing where the socket is, the gateway still up: see storageRefused), and the
  // wait before it may do so again, doubling up to the most until a frame is answered.
  unavailableInARow: 3,
  moveHoldMs: 5_000,
  moveHoldMaxMs: 60_000,
};

/** Frames the server answers on this socket, with the room's position (`pong`; the message's own
 * copy, carrying its change number): each is a keep-alive and a liveness check of its own, so the
 * keep-alive's ping goes only after pingIntervalMs without one. */
export const ANSWERED_ACTIONS = ["ping", "sendmessage"];

/** The timings a page's `data-backoff-base-ms="…"` and friends override: tests (and demos)
 * shorten the waits. */
export function timingsFrom(dataset) {
  const timings = {};
  for (const name of Object.keys(DEFAULT_TIMINGS)) {
    const value = Number(dataset[name]);
    if (Number.isFinite(value) && value > 0) timings[name] = value;
  }
  return timings;
}

/** The login is gone (`code`: the token endpoint's error, e.g. `account_suspended`). */
export class SessionEnded extends Error {
  constructor(code = "not_authenticated") {
    super(code);
    this.code = code;
  }
}

export class Connection {
  /**
   * @param {object} options
   * @param {() => Promise<{token: string, websocket_url: string}>} options.fetchToken
   * @param {string | null} options.room null: in no room (the rooms page's socket, `?lobby=1`)
   * @param {object} [options.timings] overrides of DEFAULT_TIMINGS
   * @param {(frame: object, source: {current: boolean}) => void} options.onFrame every JSON
   *   object frame received; `current` is false for one from a socket being replaced, `room`
   *   is the room the socket it came on was opened for (see moveTo)
   * @param {(info: {first: boolean}) => void} options.onOpen a (new) socket is live
   * @param {(state: string, detail?: object) => void} options.onState
   *   "connecting" | "live" | "reconnecting" (detail.seconds counts down) | "offline"
   * @param {(code: string) => void} options.onSessionEnded the login is gone: retrying cannot
   *   help (`code` says why: `account_suspended`, or the session ended)
   * @param {() => void} [options.onRefused] a handshake failed (the browser cannot see why:
   *   gateway down, or the room unknown or archived, which $connect answers with 404 or 410)
   * @param {() => object} [options.pingFields] what a ping carries besides its action (the
   *   page's read position: `{read: id}`)
   * @param {(fields: object) => void} [options.onPinged] a ping carrying `fields` went out
   */
  constructor({
    fetchToken, room, timings = {}, onFrame, onOpen, onState, onSessionEnded, onRefused,
    pingFields = () => ({}), onPinged = () => {},
  }) {
    this.pingFields = pingFields;
    this.onPinged = onPinged;
    this.fetchToken = fetchToken;
    this.room = room;
    this.timings = { ...DEFAULT_TIMINGS, ...timings };
    this.onFrame = onFrame;
    this.onOpen = onOpen;
    this.onState = onState;
    this.onSessionEnded = onSessionEnded;
    this.onRefused = onRefused ?? (() => {});
    this.socket = null; // the live socket, the only one that sends and whose close matters
    this.connecting = false;
    this.opened = 0; // sockets that went live, so onOpen can tell the first from a reconnect
    this.failures = 0; // attempts since the last stable socket; drives the backoff
    this.stopped = false;
    this.retryTimer = null;
    this.countdownTimer = null;
    this.pingTimer = null;
    this.pongTimer = null;
    this.refreshTimer = null;
    this.stableTimer = null;
    this.refusedInARow = 0; // `unavailable` answers on the live socket since one answered
    this.moveHold = this.timings.moveHoldMs;
    this.moveTimer = null; // while set, no other socket is opened for `unavailable`
    this.moveSoon = null; // the next one's (jittered) moment
  }

  get live() {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  start() {
    this.stopped = false;
    this.failures = 0;
    this.onState(this.opened ? "reconnecting" : "connecting");
    this.connect();
  }

  /** Stop for good (leaving the page, session over): no retries, the socket closed cleanly. */
  stop() {
    this.stopped = true;
    this.clearTimers();
    const socket = this.socket;
    this.socket = null;
    socket?.close(1000);
  }

  /** Send a frame on the live socket; false when there is none (the caller may queue it). */
  send(frame) {
    if (!this.live) return false;
    try {
      this.socket.send(JSON.stringify(frame));
    } catch {
      return false;
    }
    if (ANSWERED_ACTIONS.includes(frame.action)) this.awaitAnswer();
    return true;
  }

  /**
   * Follow the page to another room: the socket of the old room is closed (its late frames
   * are delivered with `room` set to the old room, so the page can drop them) and one for
   * `room` opens at once, without backoff.
   */
  moveTo(room) {
    if (room === this.room) return;
    this.room = room;
    if (this.stopped) return;
    const socket = this.socket;
    this.socket = null;
    this.clearTimers();
    socket?.close(1000, "moved");
    this.failures = 0;
    this.onState("connecting");
    if (!this.connecting) this.connect(); // else connect() sees the room changed and goes again
  }

  /** Reconnect now (the browser came back online), skipping any backoff wait. */
  resume() {
    if (this.stopped || this.socket || this.connecting) return;
    this.clearRetry();
    this.failures = 0;
    this.onState("reconnecting");
    this.connect();
  }

  /** Drop the live socket and reconnect through the backoff. */
  reconnect() {
    const ws = this.socket;
    if (!ws) return;
    this.socket = null;
    ws.close(4001, "reconnect");
    this.lost();
  }

  /**
   * The server no longer knows the live socket (its registration was lost): hand over to a new
   * one as before the 2-hour limit, so the page stays live; the catch-up fills what it missed.
   */
  replace() {
    clearTimeout(this.refreshTimer);
    this.refresh({ urgent: true });
  }

  // -- opening sockets ----------------------------------------------------------------------

  /** Open a socket; resolves with it once open, or null (and then a retry is scheduled). */
  async open() {
    let grant;
    try {
      grant = await this.fetchToken(); // a fresh token per attempt: they live for minutes only
    } catch (error) {
      if (error instanceof SessionEnded) this.endSession(error.code);
      return null;
    }
    if (this.stopped) return null;
    const where = this.room === null ? "lobby=1" : `room=${encodeURIComponent(this.room)}`;
    const url = `${grant.websocket_url}?token=${encodeURIComponent(grant.token)}&${where}`;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch {
      return null;
    }
    ws.dynamowaveRoom = this.room; // which room's frames it carries (moveTo may change rooms)
    return new Promise((resolve) => {
      const failed = () => {
        this.onRefused();
        resolve(null);
      };
      ws.addEventListener("close", failed, { once: true });
      ws.addEventListener("open", () => {
        ws.removeEventListener("close", failed);
        resolve(ws);
      }, { once: true });
    });
  }

  async connect() {
    this.retryTimer = null;
    if (this.stopped || this.connecting) return;
    this.connecting = true;
    const ws = await this.open();
    this.connecting = false;
    if (ws && ws.dynamowaveRoom !== this.room) {
      ws.close(1000, "moved"); // the page moved to another room meanwhile
      this.connect();
      return;
    }
    if (!ws) {
      this.scheduleRetry();
      return;
    }
    if (this.stopped) {
      ws.close(1000);
      return;
    }
    this.adopt(ws);
  }

  /** Make `ws` the live socket; the previous one (a planned hand-over) is closed after. */
  adopt(ws) {
    const previous = this.socket;
    this.socket = ws;
    ws.addEventListener("message", (event) => this.receive(ws, event.data));
    ws.addEventListener("close", () => this.closed(ws));
    this.opened += 1;
    clearTimeout(this.stableTimer);
    this.stableTimer = setTimeout(() => { this.failures = 0; }, this.timings.stableAfterMs);
    clearTimeout(this.pongTimer); // a ping of the previous socket no longer matters
    this.pongTimer = null;
    this.schedulePing();
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => this.refresh(), this.timings.refreshAfterMs);
    this.onState("live");
    this.onOpen({ first: this.opened === 1 });
    // Closed only now, once the new socket is registered and has asked to catch up (onOpen):
    // every message reaches one socket or the other, and nothing visible happens.
    previous?.close(1000, "replaced");
  }

  /** The planned hand-over: open the next socket while the current one still works. */
  async refresh({ urgent = false } = {}) {
    if (this.stopped || !this.live || this.connecting) return;
    this.connecting = true;
    const ws = await this.open();
    this.connecting = false;
    if (this.stopped || (ws && ws.dynamowaveRoom !== this.room)) {
      ws?.close(1000); // stopped, or moved to another room meanwhile (moveTo connects)
      if (!this.stopped && !this.socket && !this.retryTimer) this.connect();
      return;
    }
    if (!ws) {
      if (this.socket && urgent) {
        this.reconnect(); // the old socket is useless: the ordinary way back, with backoff
      } else if (this.socket) {
        // Keep the old socket; try again in a minute (its hard limit is still minutes away).
        this.refreshTimer = setTimeout(() => this.refresh(), 60_000);
      } else {
        this.scheduleRetry(); // the old socket died meanwhile: an ordinary reconnect
      }
      return;
    }
    if (!this.live) {
      // The old socket died while the new one was opening: the new one is simply the next.
      this.clearRetry();
    }
    this.adopt(ws);
  }

  // -- receiving and keeping alive ------------------------------------------------------------

  receive(ws, data) {
    if (ws === this.socket) {
      clearTimeout(this.pongTimer); // any frame shows the socket is alive
      this.pongTimer = null;
    }
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    // Frames still arriving on a socket being replaced are delivered too (the page de-duplicates
    // messages), marked so that what they say about their own socket is not taken for the live one.
    if (frame && typeof frame === "object" && !Array.isArray(frame)) {
      if (ws === this.socket) this.heard(frame);
      this.onFrame(frame, { current: ws === this.socket, room: ws.dynamowaveRoom });
    }
  }

  heard(frame) {
    if (frame.type !== "error") {
      this.refusedInARow = 0; // the functions behind this socket work: stay
      this.moveHold = this.timings.moveHoldMs;
      clearTimeout(this.moveSoon);
    } else if (frame.code === "unavailable") {
      this.storageRefused();
    }
  }

  /**
   * The live socket's functions answer `unavailable`: their storage is failing while the gateway
   * stays up, as in a Region whose tables fail (docs/multi-region.md). The sends wait (the
   * outbox); after `unavailableInARow` such answers the page opens another socket through the
   * domain, the planned hand-over: taken if its handshake succeeds (once Route 53 has moved the
   * domain, it is in the healthy Region), the old one kept if not (one Region, storage down:
   * $connect fails too). It goes at a random moment within `moveHoldMs` (pages refused
   * together do not all knock at once, on storage that may be throttling), and not again within
   * it; the hold doubles until a frame is answered.
   */
  storageRefused() {
    this.refusedInARow += 1;
    if (this.refusedInARow < this.timings.unavailableInARow || this.moveTimer) return;
    this.refusedInARow = 0;
    const hold = this.moveHold;
    this.moveHold = Math.min(hold * 2, this.timings.moveHoldMaxMs);
    this.moveTimer = setTimeout(() => { this.moveTimer = null; }, hold);
    this.moveSoon = setTimeout(() => this.refresh(), Math.random() * hold);
  }

  schedulePing() {
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => this.ping(), this.timings.pingIntervalMs);
  }

  ping() {
    const fields = this.pingFields();
    if (this.send({ ...fields, action: "ping" })) this.onPinged(fields);
  }

  /** A frame the server answers went out: the keep-alive counts from now, and no frame at all
   * within pongTimeoutMs means a dead socket. */
  awaitAnswer() {
    this.schedulePing();
    if (this.pongTimer) return;
    const ws = this.socket;
    this.pongTimer = setTimeout(() => {
      this.pongTimer = null;
      if (ws !== this.socket) return;
      // A half-open TCP connection can take minutes to close on its own: give up on it now.
      this.socket = null;
      ws.close(4000, "no pong");
      this.lost();
    }, this.timings.pongTimeoutMs);
  }

  closed(ws) {
    // Only the live socket's close matters; a replaced one closing late must not retry.
    if (ws !== this.socket) return;
    this.socket = null;
    this.lost();
  }

  lost() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    clearTimeout(this.refreshTimer);
    clearTimeout(this.stableTimer);
    this.pongTimer = null;
    this.scheduleRetry();
  }

  // -- backoff ----------------------------------------------------------------------------------

  backoffDelay() {
    // "Full jitter": a random wait up to the exponential bound, so clients dropped together by
    // one outage do not all come back in the same instant.
    const { backoffBaseMs, backoffMaxMs } = this.timings;
    const bound = Math.min(backoffMaxMs, backoffBaseMs * 2 ** Math.min(this.failures, 30));
    return Math.random() * bound;
  }

  scheduleRetry() {
    if (this.stopped || this.retryTimer || this.connecting || this.socket) return;
    if (!navigator.onLine) {
      this.onState("offline"); // the page calls resume() when the browser is back online
      return;
    }
    const delay = this.backoffDelay();
    this.failures += 1;
    const due = Date.now() + delay;
    const tick = () => {
      const seconds = Math.ceil((due - Date.now()) / 1000);
      this.onState("reconnecting", { seconds: Math.max(seconds, 0) });
    };
    tick();
    clearInterval(this.countdownTimer);
    this.countdownTimer = setInterval(tick, 1000);
    this.retryTimer = setTimeout(() => {
      clearInterval(this.countdownTimer);
      this.onState("reconnecting", { seconds: 0 });
      this.connect();
    }, delay);
  }

  clearRetry() {
    clearTimeout(this.retryTimer);
    clearInterval(this.countdownTimer);
    this.retryTimer = null;
  }

  clearTimers() {
    this.clearRetry();
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    clearTimeout(this.refreshTimer);
    clearTimeout(this.stableTimer);
    clearTimeout(this.moveTimer);
    clearTimeout(this.moveSoon);
    this.moveTimer = null;
    this.pongTimer = null;
  }

  endSession(code) {
    this.stopped = true;
    this.clearTimers();
    this.onState("offline");
    this.onSessionEnded(code);
  }
}
