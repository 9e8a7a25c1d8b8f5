// Where history paging stands: the newest page on open, older pages on scroll-up, and catching
// up after every reconnect. One request at a time, so each `history` answer is unambiguous
// (frames carry no request id, and in AWS two answers may arrive in either order).

const PAGE_SIZE = 50; // on open and per older page
const CATCH_UP_SIZE = 100; // per page when catching up after a reconnect
const TIMEOUT_MS = 10_000; // an unanswered request is given up and may be sent again
const REFUSED_RETRY_MS = 3_000; // a request refused `unavailable` goes again after this long

export class HistoryPager {
  /**
   * @param {(frame: object) => boolean} send sends on the live socket; false when there is none
   * @param {import("./render.js").MessageList} messages what the page holds
   */
  constructor(send, messages) {
    this.send = send;
    this.messages = messages;
    this.loaded = false; // the newest page has arrived
    this.hasOlder = false;
    this.olderWanted = false;
    this.catchUpFrom = null; // page forward from this id until has_more is false
    this.inFlight = null; // {kind, at}
    this.retryTimer = null;
  }

  /**
   * A (new) socket is live: ask what was missed (unless `catchUp` is false: the change log
   * asks what changed since its position instead). What was asked on the old one is lost.
   */
  opened({ catchUp = true } = {}) {
    this.inFlight = null;
    clearTimeout(this.retryTimer);
    if (!this.messages.newestId) this.loaded = false; // nothing held: the newest page, as at first
    else if (catchUp) this.catchUpFrom = this.messages.newestId;
    this.request();
  }

  /** The reader is near the top: fetch the page before the oldest message held. */
  wantOlder() {
    if (!this.loaded || !this.hasOlder) return;
    this.olderWanted = true;
    this.request();
  }

  request() {
    if (this.inFlight && Date.now() - this.inFlight.at < TIMEOUT_MS) return;
    this.inFlight = null;
    let kind;
    let query;
    if (!this.loaded) {
      [kind, query] = ["latest", { limit: PAGE_SIZE }];
    } else if (this.catchUpFrom) {
      [kind, query] = ["after", { after: this.catchUpFrom, limit: CATCH_UP_SIZE }];
    } else if (this.olderWanted && this.hasOlder && this.messages.oldestId) {
      [kind, query] = ["older", { before: this.messages.oldestId, limit: PAGE_SIZE }];
    } else {
      return;
    }
    if (this.send({ action: "history", ...query })) this.inFlight = { kind, at: Date.now() };
    this.showState();
  }

  /** A `history` request was refused `unavailable` (storage failing a moment): asked again
   * after a wait, or at once on the next socket (opened). */
  refused() {
    this.inFlight = null;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.request(), REFUSED_RETRY_MS);
  }

  /** A `history` frame arrived and its messages (`page`) are merged: note it, ask for the next. */
  answered(frame, page) {
    const kind = this.inFlight?.kind;
    this.inFlight = null;
    const more = frame.has_more === true;
    if (kind === "latest") {
      this.loaded = true;
      this.hasOlder = more;
    } else if (kind === "older") {
      this.hasOlder = more;
      this.olderWanted = false;
    } else if (kind === "after") {
      // From the last id of this page, not the newest held: live messages may be ahead of it.
      this.catchUpFrom = more && page.length ? page.at(-1).id : null;
    }
    this.showState();
    this.request();
  }

  showState() {
    const loading = !this.loaded || this.inFlight?.kind === "older";
    this.messages.setHistoryState(loading ? "loading" : this.hasOlder ? "more" : "start");
    this.messages.setBusy?.(loading); // the feed is aria-busy while a page is coming
  }
}
