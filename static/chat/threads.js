// The thread panel: one thread of the room shown, beside it (desktop: a right-hand column in
// place of the details; phone: full screen over the room, with a back button). Its parent on
// top and its replies are a message list of their own (render.js), paged as the room's
// (history.js, each request with `thread`); its composer sends replies (`sendmessage` with
// `thread`, "Also send to #room": `also_in_room`). The room's frames reach it through chat.js,
// which routes them by `thread` (thread-summary.js placeOf). While the thread is shown the
// viewer's position in it is marked (`markread` with `thread`), at most once per burst. Files
// are attached to a reply as to a room's message: the same component (uploads.js), mounted on
// this composer, one scope per thread (`<room>/<thread>`); a thread's draft (its text, and its
// files through that component) survives a reload.

import { HistoryPager } from "./history.js";
import { MessageList } from "./render.js";

const MARK_MS = 500;

export class ThreadPanel {
  /**
   * @param {HTMLElement} panel the panel (#thread), holding the elements named below
   * @param {object} options
   * @param {object} options.viewer {userId, username, staff}
   * @param {(frame: object) => boolean} options.send on the room's live socket
   * @param {object} options.actions {edit, remove, react} as the room's list has them
   * @param {() => string} options.roomLabel "#general", for "Also send to #general"
   * @param {(text: string) => void} options.notice tells the reader something went wrong
   * @param {(open: boolean) => void} options.onToggle the layout makes room for it
   * @param {() => string} options.room the room shown (its threads are the ones shown here)
   * @param {object} [options.attachments] this composer's Attachments (uploads.js), its scopes
   *   `<room>/<thread>`; its `send` and `giveBack` call sendReply() and captionBack()
   * @param {Storage | null} [options.storage] where a thread's draft survives a reload
   * @param {(scope: string) => string} [options.draftKey] a thread's draft's key there
   * @param {(thread: string) => void} [options.onRead] the thread was marked read (its badge goes)
   */
  constructor(panel, { viewer, send, actions, roomLabel, notice, onToggle, room, attachments = null,
    storage = null, draftKey = (scope) => `dynamowave.thread.${scope}.draft`, onRead = () => {} }) {
    this.panel = panel;
    this.viewer = viewer;
    this.sendFrame = send;
    this.actions = actions;
    this.roomLabel = roomLabel;
    this.notice = notice;
    this.onToggle = onToggle;
    this.room = room;
    this.attachments = attachments;
    this.storage = storage;
    this.draftKey = draftKey;
    this.onRead = onRead;
    this.drafts = new Map(); // scope -> text, for a browser without storage
    this.alsoWaiting = new Map(); // scope -> "Also send to #room" of a reply waiting for files
    this.thread = null; // the parent's id while a thread is shown
    this.opener = null; // the button that opened it: focus goes back there on closing
    this.area = panel.querySelector(".thread-area");
    this.input = panel.querySelector("#thread-input");
    this.also = panel.querySelector("#thread-also");
    this.alsoLabel = panel.querySelector("#thread-also-room");
    this.markTimer = null;
    this.marked = null;
    this.sent = 0;
    this.closed = false; // the parent was deleted: the thread takes no more replies
    panel.querySelector("#thread-composer").addEventListener("submit", (event) => {
      event.preventDefault();
      this.reply();
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.reply();
      }
    });
    this.input.addEventListener("input", () => this.draftSave());
    for (const button of panel.querySelectorAll("[data-close-thread]")) {
      button.addEventListener("click", () => this.close());
    }
    panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !event.defaultPrevented && this.thread) {
        event.preventDefault();
        this.close();
      }
    });
  }

  get open() {
    return this.thread !== null;
  }

  /** The thread shown, as its files' scope: `<room>/<thread>` (room names have no "/"). */
  get scope() {
    return this.thread === null ? null : `${this.room()}/${this.thread}`;
  }

  /** The viewer is reading thread `id` now: it is shown, the page is seen, and its newest
   * replies are in view. A reply arriving there is read, never "new". */
  reading(id) {
    return this.thread === id && document.visibilityState === "visible" && this.atBottom();
  }

  /** Show thread `id` (its parent, if the room's list holds it, at once), and ask its replies. */
  show(id, { parent = null, opener = null } = {}) {
    if (this.thread === id) {
      this.input.focus();
      return;
    }
    this.thread = id;
    this.opener = opener;
    this.marked = null;
    const list = document.createElement("ol");
    list.id = "thread-messages";
    list.className = "messages thread-messages";
    list.setAttribute("aria-label", "Thread replies");
    this.area.replaceChildren(list);
    this.list = list;
    this.messages = new MessageList(list, this.viewer, this.actions, {
      beginning: "The start of the thread.",
    });
    if (parent) this.messages.upsert(parent);
    this.divide();
    this.readOnly(parent?.deleted === true);
    this.pager = new HistoryPager(
      (frame) => this.thread === id && this.sendFrame({ ...frame, thread: id }),
      this.messages,
    );
    list.addEventListener("scroll", () => {
      if (list.scrollTop < 120) this.pager.wantOlder();
      this.markSoon();
    }, { passive: true });
    this.alsoLabel.textContent = this.roomLabel();
    this.panel.querySelector("#thread-room").textContent = this.roomLabel();
    this.also.checked = false;
    this.input.value = "";
    this.draftRestore();
    this.attachments?.show(this.scope);
    this.panel.hidden = false;
    this.onToggle(true);
    this.pager.opened({ catchUp: false });
    this.input.focus();
  }

  close() {
    if (!this.thread) return;
    // Forgotten, not only cleared: markSoon() arms only while no timer is held, so a stale
    // handle would keep every later opening of a thread from being marked read.
    clearTimeout(this.markTimer);
    this.markTimer = null;
    this.thread = null;
    this.panel.hidden = true;
    this.area.replaceChildren();
    this.onToggle(false);
    const opener = this.opener;
    this.opener = null;
    if (opener?.isConnected) opener.focus();
    else document.getElementById("message-input")?.focus();
  }

  /** The socket is live again: what the thread missed comes back with its newest page. */
  opened() {
    if (this.thread) this.pager.opened({ catchUp: true });
  }

  /** A `history` frame with `thread`: a page of replies (and the parent as it is now). */
  historyArrived(frame) {
    if (frame.thread !== this.thread) return;
    const bottom = this.atBottom();
    const page = frame.messages.filter((m) => typeof m?.id === "string");
    if (frame.parent && typeof frame.parent.id === "string") {
      this.messages.upsert(frame.parent);
      this.readOnly(frame.parent.deleted === true);
    }
    for (const message of page) this.messages.upsert(message);
    this.messages.refreshSeparators();
    this.divide();
    this.pager.answered(frame, page);
    if (bottom) this.list.scrollTop = this.list.scrollHeight;
    this.markSoon();
  }

  /** A reply (new, or as it is now after a repair) of the thread shown. */
  receive(message) {
    if (!this.thread || message.thread !== this.thread) return;
    const bottom = this.atBottom();
    const own = this.messages.isOwn(message);
    this.messages.upsert(message);
    this.messages.refreshSeparators();
    this.divide();
    if (bottom || own) this.list.scrollTop = this.list.scrollHeight;
    this.markSoon();
  }

  /** An edit, reaction, deletion or new summary of a message the thread may hold. */
  update(message) {
    if (this.thread && this.messages.has(message.id)) {
      this.messages.update(message);
      if (message.id === this.thread) this.divide();
    }
    if (message.id === this.thread && message.deleted === true) this.readOnly(true);
  }

  /** Between the parent and its replies, a line with their number ("3 replies"), as Slack
   * draws it: the first reply never reads as more of the parent. */
  divide() {
    this.list.querySelector(":scope > .thread-divider")?.remove();
    const parent = this.messages.items.get(this.thread);
    if (!parent) return;
    const held = this.messages.items.size - 1;
    const count = Math.max(Number(parent.message.replies?.count) || 0, held);
    if (count < 1) return;
    const line = document.createElement("li");
    line.className = "thread-divider";
    line.setAttribute("role", "none");
    line.textContent = count === 1 ? "1 reply" : `${count} replies`;
    parent.el.after(line);
  }

  /** A deleted parent's thread stays readable, and takes no more replies (the server would
   * refuse them: message_not_found). */
  readOnly(closed) {
    this.closed = closed;
    this.input.disabled = closed;
    this.also.disabled = closed;
    this.panel.querySelector("#thread-send").disabled = closed;
    const attach = this.panel.querySelector("#thread-attach");
    if (attach) attach.disabled = closed;
    this.input.placeholder = closed
      ? "The message was deleted: its thread can be read, not answered"
      : "Reply… (Enter sends)";
  }

  atBottom() {
    const list = this.list;
    return !list || list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  }

  /** The viewer read the thread to its newest reply: told once things settle. */
  markSoon() {
    if (this.markTimer || !this.thread) return;
    this.markTimer = setTimeout(() => {
      this.markTimer = null;
      const newest = this.messages.newestId;
      if (!this.thread || !newest || newest === this.thread) return;
      if (this.marked && newest <= this.marked) return;
      if (document.visibilityState !== "visible" || !this.atBottom()) return;
      if (this.sendFrame({ action: "markread", id: newest, thread: this.thread })) {
        this.marked = newest;
        this.onRead(this.thread);
      }
    }, MARK_MS);
  }

  /** The composer's Enter or Reply: the text, with the files attached if there are any (then
   * it goes when they are all uploaded and checked, as in the room). */
  reply() {
    const text = this.input.value;
    const scope = this.scope;
    if (!this.thread || this.closed) return;
    const files = this.attachments?.queueOf(scope);
    if (!text.trim() && !files?.size) return;
    const also = this.also.checked;
    this.alsoWaiting.set(scope, also);
    const how = this.attachments ? this.attachments.submit(scope, text) : "none";
    if (how === "blocked") {
      this.notice("Not sent: a file could not be attached. Remove it (✕) to send the rest.");
      return;
    }
    if (how === "unsent") return; // said by sendReply; text and files stay
    if (how === "none" && !this.sendReply(scope, text, [])) return;
    this.input.value = "";
    this.draftSave();
    this.input.focus();
  }

  /** A reply goes in the thread of `scope` (with its files' ids): false if it could not (not
   * connected, or that thread's room is no longer the one shown). */
  sendReply(scope, text, files) {
    const [room, thread] = splitScope(scope);
    this.sent += 1;
    const frame = {
      action: "sendmessage",
      message: text,
      thread,
      clientMessageId: `t-${Date.now().toString(36)}-${this.sent}`,
    };
    if (files.length) frame.files = files.map((file) => file.id);
    if (this.alsoWaiting.get(scope)) frame.also_in_room = true;
    this.alsoWaiting.delete(scope);
    if (room !== this.room() || !this.sendFrame(frame)) {
      this.notice("Not connected: the reply was not sent. Try again when live.");
      return false;
    }
    return true;
  }

  /** A reply that waited for its files did not go: its text back in that thread's draft (the
   * box, if it is the thread shown). */
  captionBack(scope, text, { failed = false, interrupted = false } = {}) {
    if (scope === this.scope) {
      if (!this.input.value.includes(text)) this.input.value = this.input.value ? `${text}\n${this.input.value}` : text;
      this.draftSave();
      if (interrupted) {
        this.notice("Your reply was not sent: a file was still uploading when the page was left. Its text is back in the box.");
      } else if (failed) this.notice("Your reply was not sent: a file could not be attached. Its text is back in the box.");
      return;
    }
    const draft = this.draftLoad(scope);
    this.draftStore(scope, draft ? `${text}\n${draft}` : text);
  }

  // -- a thread's draft: what is typed and not sent stays with its thread ---------------------

  draftSave() {
    if (this.scope) this.draftStore(this.scope, this.input.value);
  }

  draftRestore() {
    const draft = this.draftLoad(this.scope);
    if (draft && !this.input.value) this.input.value = draft;
  }

  draftLoad(scope) {
    let draft = this.drafts.get(scope) ?? "";
    try {
      draft = this.storage?.getItem(this.draftKey(scope)) ?? draft;
    } catch {
      // as in draftStore()
    }
    return draft;
  }

  draftStore(scope, text) {
    this.drafts.set(scope, text);
    try {
      if (text.trim()) this.storage?.setItem(this.draftKey(scope), text);
      else this.storage?.removeItem(this.draftKey(scope));
    } catch {
      // Full or disabled: the draft lives as long as the page.
    }
  }
}

/** `<room>/<thread>` as [room, thread]. */
function splitScope(scope) {
  const at = scope.indexOf("/");
  return [scope.slice(0, at), scope.slice(at + 1)];
}

/** The viewer's followed threads in the room shown (the details panel's "Your threads"): each
 * parent's author and text, and the replies the viewer has not read; choosing one opens it. */
export class FollowedThreads {
  /**
   * @param {HTMLUListElement} list
   * @param {HTMLElement} empty shown while there are none
   * @param {(id: string, opener: HTMLElement) => void} open
   */
  constructor(list, empty, open) {
    this.list = list;
    this.empty = empty;
    this.open = open;
    this.entries = new Map(); // parent id -> {parent, unread}, last reply first
  }

  /** A `threads` frame's list, as the server ordered it. */
  showAll(threads) {
    this.entries.clear();
    for (const followed of Array.isArray(threads) ? threads : []) {
      if (typeof followed?.thread !== "string" || typeof followed.parent !== "object") continue;
      this.entries.set(followed.thread, {
        parent: followed.parent,
        unread: Number(followed.unread) || 0,
      });
    }
    this.render();
  }

  /** A thread's new count; false if the list does not hold it (the page asks for the list). */
  counts(thread, unread) {
    const entry = this.entries.get(thread);
    if (!entry) return false;
    entry.unread = Number(unread) || 0;
    this.render();
    return true;
  }

  clear() {
    this.entries.clear();
    this.render();
  }

  render() {
    const items = [];
    for (const [id, { parent, unread }] of this.entries) {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "followed-thread";
      const author = String(parent.user?.username ?? "someone");
      const flat = parent.deleted ? "message deleted" : String(parent.text ?? "").replace(/\s+/g, " ");
      const text = flat.length > 60 ? `${flat.slice(0, 60)}…` : flat;
      const who = document.createElement("span");
      who.className = "followed-author";
      who.textContent = author;
      const what = document.createElement("span");
      what.className = "followed-text";
      what.textContent = text;
      button.append(who, " ", what);
      if (unread) {
        const badge = document.createElement("span");
        badge.className = "badge thread-unread";
        badge.textContent = `${unread} new`;
        button.append(" ", badge);
      }
      button.addEventListener("click", () => this.open(id, button));
      item.append(button);
      items.push(item);
    }
    this.list.replaceChildren(...items);
    this.empty.hidden = items.length > 0;
  }
}
