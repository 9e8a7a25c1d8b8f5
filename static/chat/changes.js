// Delivery you can count on: every change in a room (a message stored, edited, reacted to or
// deleted) carries the room's next change number, `rev`. The page holds every change up to
// `position`; a number beyond `position + 1`, or a `pong` naming one beyond what is held, is a
// gap. If it is still open GRACE_MS later (live frames of concurrent sends often arrive out of
// order), the page asks `{"action": "history", "since": position}` and applies the answer;
// numbers it calls pending (taken by a write that may yet land) are asked for again later,
// numbers it calls empty are passed over. bench/ordered.py is the same in Python.

const GRACE_MS = 300;
const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 8000;
// An answer this late is given up (lost with a socket, or refused: `rate_limited` answers
// carry no request id): the next gap asks again.
const ANSWER_TIMEOUT_MS = 10_000;

export class ChangeLog {
  /** @param {(frame: object) => boolean} send sends on the live socket; false when none */
  constructor(send) {
    this.send = send;
    this.position = null; // every change up to it is held (or empty for good)
    this.latest = 0; // the highest number the server has named
    this.ahead = new Set(); // numbers held beyond `position`
    this.asking = false;
    this.gapSince = null;
    this.retryAt = null;
    this.retryMs = RETRY_FIRST_MS;
    this.timer = null; // the next check of a gap
    this.answerTimer = null; // giving up on an unanswered request
  }

  /** The newest page arrived: it brings the page up to `rev`. */
  loaded(rev) {
    if (!Number.isInteger(rev) || this.position !== null) return;
    this.position = rev;
    for (const n of this.ahead) if (n <= rev) this.ahead.delete(n);
    this.advance();
    this.poke();
  }

  /** A change (live, or in a page of history) is held. */
  note(rev) {
    if (!Number.isInteger(rev) || (this.position !== null && rev <= this.position)) return;
    this.ahead.add(rev);
    this.latest = Math.max(this.latest, rev);
    this.advance();
    this.poke();
  }

  pong(rev) {
    if (!Number.isInteger(rev)) return;
    this.latest = Math.max(this.latest, rev);
    this.poke();
  }

  /** A (new) socket is live: a request on the old one is lost; ask what changed meanwhile. */
  opened() {
    this.asking = false;
    clearTimeout(this.answerTimer);
    if (this.position === null) return false;
    this.retryAt = 0; // at once
    this.poke();
    return true;
  }

  /** The answer to `since` arrived (its messages applied, and noted, by the page). */
  answered(frame) {
    this.asking = false;
    clearTimeout(this.answerTimer);
    for (const [first, last] of Array.isArray(frame.empty) ? frame.empty : []) {
      for (let n = first; n <= last; n += 1) this.note(n);
    }
    const now = Date.now();
    if (frame.has_more === true) {
      this.retryAt = now;
    } else if (this.position !== null && this.position < (frame.to ?? 0)) {
      this.retryAt = now + this.retryMs; // still pending: ask again later
      this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    } else {
      this.retryMs = RETRY_FIRST_MS;
      this.gapSince = this.gap() ? now : null;
    }
    this.poke();
  }

  advance() {
    while (this.position !== null && this.ahead.has(this.position + 1)) {
      this.position += 1;
      this.ahead.delete(this.position);
    }
  }

  gap() {
    return this.position !== null && (this.ahead.size > 0 || this.latest > this.position);
  }

  /** Ask now if a gap is due, else check again when it will be. */
  poke() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.position === null || this.asking) return;
    if (!this.gap()) {
      this.gapSince = null;
      return;
    }
    const now = Date.now();
    this.gapSince ??= now;
    const due = this.retryAt ?? this.gapSince + GRACE_MS;
    if (now < due) {
      this.timer = setTimeout(() => this.poke(), due - now);
      return;
    }
    if (this.send({ action: "history", since: this.position })) {
      this.asking = true;
      this.retryAt = null;
      this.answerTimer = setTimeout(() => {
        this.asking = false;
        this.poke();
      }, ANSWER_TIMEOUT_MS);
    }
  }
}
