// When the page tells its room that its user is typing. Each `typing` frame is a Lambda
// invocation and one API Gateway message to every other person in the room, so the page sends
// at most one per composing burst, and none where the room is too large for it to mean much:
//
// - A burst is typing with no pause as long as TYPING_IDLE_MS; sending a message does not end
//   it (a flurry of short messages is one burst, told once).
// - The frame goes at the first keystroke at least TYPING_DELAY_MS into the burst, with text in
//   the composer: a quick "ok" sent at once tells nobody that it was being typed.
// - Not with more than TYPING_MAX_ONLINE people in the room: a notice costs as much as the
//   message it announces (one API Gateway message to each person), so it doubles the cost of
//   every room it is shown in (bench/COST.md); it is kept for conversations and small groups,
//   where it is read (Zulip stops at 100 recipients, for noise). The server enforces it too
//   (lambdas/services/messages.py).
//
// The receiving pages show "… is typing" until that person's message arrives or for
// TYPING_SHOWN_MS (static/chat/people.js), whichever is first. The clock is an argument, so
// `node --test` drives it (tests/js/typing.test.mjs).

export const TYPING_IDLE_MS = 10_000;
export const TYPING_DELAY_MS = 1_000;
export const TYPING_MAX_ONLINE = 20;

export class TypingNotices {
  constructor({ now = () => Date.now() } = {}) {
    this.now = now;
    this.burstStart = null; // when the burst began (null: no burst)
    this.lastInput = -Infinity;
    this.told = false; // this burst's frame went
  }

  /** The composer changed. True if a `typing` frame should be sent now (then call `sent`). */
  input({ hasText, online = 0 }) {
    const now = this.now();
    if (this.burstStart === null || now - this.lastInput >= TYPING_IDLE_MS) {
      this.burstStart = now;
      this.told = false;
    }
    this.lastInput = now;
    return (
      hasText && !this.told && online <= TYPING_MAX_ONLINE && now - this.burstStart >= TYPING_DELAY_MS
    );
  }

  /** The frame went (a closed socket sends nothing: the next keystroke tries again). */
  sent() {
    this.told = true;
  }

  /** Another room is shown: its typing is a new burst. */
  reset() {
    this.burstStart = null;
    this.told = false;
    this.lastInput = -Infinity;
  }
}
