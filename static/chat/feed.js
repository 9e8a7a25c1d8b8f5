// The message list as a WAI-ARIA feed (APG "Feed" pattern): one Tab stop, a roving tabindex over
// the messages (role=article), arrow keys, Page Up/Down and Home/End between them, Enter or F2
// into a message's buttons and links, Escape back to the message. No knowledge of messages
// beyond "an article"; the list (render.js) tells it what is there.
//
// A feed is made of articles (ARIA: its required owned elements): a room with no message yet is
// not an empty feed, which would be a broken one (axe: aria-required-children), but a labelled
// group holding the line that says so ("This is the beginning of the room."). It becomes the
// feed with its first message, and a group again if its last one goes.

const FOCUSABLE = "a[href], button, input, textarea, select, [tabindex]:not(li)";
const PAGE = 10; // Page Up/Down: this many messages

export class Feed {
  /**
   * @param {HTMLElement} list the feed's element
   * @param {string} itemSelector its articles (direct children)
   */
  constructor(list, itemSelector) {
    this.list = list;
    this.itemSelector = itemSelector;
    this.active = null;
    this.syncRole();
    list.addEventListener("keydown", (event) => this.key(event));
    list.addEventListener("focusin", (event) => {
      const item = event.target.closest?.(this.itemSelector);
      if (item && item.parentElement === list && item !== this.active) this.activate(item);
    });
    // Whatever is added inside a message (buttons re-rendered on an edit, a palette, a "Show
    // more") takes the tab stops of its message's state: no wiring in each place that adds.
    new MutationObserver((records) => this.mutated(records)).observe(list, {
      childList: true,
      subtree: true,
    });
  }

  items() {
    return [...this.list.querySelectorAll(`:scope > ${this.itemSelector}`)];
  }

  /** A feed while it holds a message, a group (of the lines saying there is none) before. */
  syncRole() {
    const role = this.list.querySelector(`:scope > ${this.itemSelector}`) ? "feed" : "group";
    if (this.list.getAttribute("role") !== role) this.list.setAttribute("role", role);
  }

  /** Make `item` the feed's tab stop (the newest message when `item` is null). */
  activate(item) {
    const previous = this.active;
    this.active = item ?? this.items().at(-1) ?? null;
    if (previous && previous !== this.active && previous.isConnected) this.sync(previous);
    if (this.active) this.sync(this.active);
  }

  /** An article's own tabindex, and its buttons' and links' (only the active one's are). */
  sync(item) {
    const active = item === this.active;
    item.tabIndex = active ? 0 : -1;
    for (const inner of item.querySelectorAll(FOCUSABLE)) {
      if (inner.closest(".emoji-picker")) continue; // a dialog open in it manages its own
      if (active) inner.removeAttribute("tabindex");
      else inner.tabIndex = -1;
    }
  }

  mutated(records) {
    const touched = new Set();
    this.syncRole();
    for (const record of records) {
      for (const node of record.addedNodes) {
        if (node.nodeType !== Node.ELEMENT_NODE) continue;
        if (node.parentElement === this.list && !node.matches(this.itemSelector)
          && !node.hasAttribute("role")) {
          // A feed owns articles only: a line added among them (the page's "New messages") is
          // text in the feed, not a list item of a list that is not there.
          node.setAttribute("role", "none");
        }
        const item = node.matches(this.itemSelector) && node.parentElement === this.list
          ? node : node.parentElement?.closest(this.itemSelector);
        if (item) touched.add(item);
      }
    }
    if (this.active && !this.active.isConnected) {
      // The active one went (a pending send settled): its neighbour takes the stop.
      this.active = null;
    }
    for (const item of touched) this.sync(item);
    if (!this.active) this.activate(null);
  }

  focus(item) {
    if (!item) return;
    this.activate(item);
    item.focus({ preventScroll: true });
    item.scrollIntoView({ block: "nearest" });
  }

  key(event) {
    if (event.defaultPrevented || event.altKey || event.metaKey) return;
    const item = event.target.closest?.(this.itemSelector);
    if (!item || item.parentElement !== this.list) return;
    if (event.target !== item) {
      // Inside a message: Escape goes back to it (an editor or picker handles its own first).
      if (event.key === "Escape") {
        event.preventDefault();
        this.focus(item);
      }
      return;
    }
    const items = this.items();
    const at = items.indexOf(item);
    let to = null;
    if (event.ctrlKey) {
      return; // Ctrl+Home/End: the page's, leaving the feed
    } else if (event.key === "ArrowDown") to = at + 1;
    else if (event.key === "ArrowUp") to = at - 1;
    else if (event.key === "PageDown") to = at + PAGE;
    else if (event.key === "PageUp") to = at - PAGE;
    else if (event.key === "Home") to = 0;
    else if (event.key === "End") to = items.length - 1;
    else if (event.key === "Enter" || event.key === "F2") {
      const first = [...item.querySelectorAll(FOCUSABLE)].find((el) => el.offsetParent !== null
        || el.getClientRects().length > 0);
      if (first) {
        event.preventDefault();
        first.focus();
      }
      return;
    } else return;
    event.preventDefault();
    this.focus(items[Math.max(0, Math.min(items.length - 1, to))]);
  }
}
