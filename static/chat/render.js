// The message list: messages kept unique and sorted by id, day separators, grouping of one
// person's consecutive messages, pending sends, inline editing, deleted messages, long messages
// collapsed, reactions, files (files.js), and the feed keyboard (feed.js). Text is rendered by markdown.js, which
// hands back sanitized nodes: user text is never parsed as markup on the page.

import { openEmojiPicker } from "./emoji.js";
import { Feed } from "./feed.js";
import { fillFiles } from "./files.js";
import { MENTION_RE, renderMarkdown } from "./markdown.js";
import { replierNames, summaryText } from "./thread-summary.js";

export { MENTION_RE };

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "short" });
const dayFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "full" });

// One person's messages this close together (and nothing between) share a name and time.
const GROUP_MS = 5 * 60 * 1000;
const BEGINNING = "This is the beginning of the room.";
let lists = 0; // per-instance ids: several lists (rooms) may share a page

// The reactions offered first (lambdas/protocol.py PALETTE); any single emoji is accepted.
const PALETTE = ["👍", "❤️", "😂", "🎉", "😮", "😢"];

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Local calendar day (the viewer's time zone) of a date, as YYYY-MM-DD. */
function dayKey(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

function parseDate(value) {
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** Whether message `a` comes before `b` in the room: by place (`seq`), then id. */
function before(a, b) {
  const [sa, sb] = [a.seq ?? 0, b.seq ?? 0];
  return sa !== sb ? sa < sb : a.id < b.id;
}

/** An update older than the state held (a late live copy after a repair): ignored. */
function stale(held, update) {
  return Number.isInteger(held.rev) && Number.isInteger(update.rev) && update.rev < held.rev;
}

export class MessageList {
  /**
   * @param {HTMLOListElement} list
   * @param {object} viewer {userId, username, staff}
   * @param {object} actions {edit(id, text), remove(id), react(id, emoji, remove)} called from
   *   the per-message buttons; with {reply(id, opener), openThread(id, opener)} (the room's
   *   list, not a thread's) messages get "Reply" and a parent its thread's summary
   * @param {object} [options] {beginning}: what the top of the list says once the whole history
   *   is loaded ("This is the beginning of the room." unless given; setBeginning() changes it)
   */
  constructor(list, viewer, actions, { beginning = BEGINNING } = {}) {
    this.list = list;
    this.viewer = viewer;
    this.actions = actions;
    this.uid = `ml${++lists}`;
    this.serial = 0;
    this.beginning = beginning;
    this.items = new Map(); // id -> {el, message}
    this.threadUnread = new Map(); // parent id -> the viewer's unread replies (followed threads)
    // Ids held in the room's order: by `seq` (a message's place), then id (ULIDs sort by time;
    // messages stored before numbering have no `seq` and come first).
    this.ids = [];
    this.pending = new Map(); // clientMessageId -> element, in the order they were sent
    this.marker = el("li", "history-marker");
    this.marker.setAttribute("role", "none");
    this.list.prepend(this.marker);
    this.feed = new Feed(list, "li.message");
    this.layoutQueued = false;
    // Long messages: clamped by CSS; whether one overflows is known once it is laid out (and
    // again when its width changes), so a "Show more" appears only where something is hidden.
    this.sizes = new ResizeObserver((entries) => {
      for (const entry of entries) this.measure(entry.target);
    });
    this.setHistoryState("loading");
  }

  // By id, for paging: concurrent sends may take places in another order than their ids.
  get oldestId() {
    return this.ids.reduce((low, id) => (low === null || id < low ? id : low), null);
  }

  get newestId() {
    return this.ids.reduce((high, id) => (high === null || id > high ? id : high), null);
  }

  has(id) {
    return this.items.has(id);
  }

  /** "loading" | "more" | "start": what the top of the list says about older messages. */
  setHistoryState(state) {
    this.marker.dataset.state = state;
    this.marker.textContent = {
      loading: "Loading earlier messages…",
      more: "Scroll up for earlier messages",
      start: this.beginning,
    }[state];
  }

  /** What the top says once the whole history is there (a conversation is not "the room"). */
  setBeginning(text) {
    this.beginning = String(text);
    if (this.marker.dataset.state === "start") this.setHistoryState("start");
  }

  /** aria-busy on the feed while a page of history is being added (chat.js: around paging). */
  setBusy(busy) {
    if (busy) this.list.setAttribute("aria-busy", "true");
    else this.list.removeAttribute("aria-busy");
  }

  isOwn(message) {
    const user = message.user ?? {};
    if (this.viewer.userId && user.id !== undefined) return String(user.id) === this.viewer.userId;
    return user.username === this.viewer.username;
  }

  /** Insert a message, or bring one already shown up to date; true if it was new. */
  upsert(message) {
    const id = message.id;
    const held = this.items.get(id);
    if (held) {
      if (stale(held.message, message)) return false;
      this.fill(held.el, message);
      held.message = message;
      this.queueLayout();
      return false;
    }
    const item = this.render(message);
    const at = this.position(message);
    this.items.set(id, { el: item, message });
    this.ids.splice(at, 0, id);
    const next = at + 1 < this.ids.length ? this.items.get(this.ids[at + 1]).el : null;
    this.list.insertBefore(item, next ?? this.pending.values().next().value ?? null);
    this.queueLayout();
    return true;
  }

  /** Apply an edit or deletion to a message shown; ones not held (older than the page) wait. */
  update(message) {
    const held = this.items.get(message.id);
    if (!held || stale(held.message, message)) return;
    held.message = { ...held.message, ...message };
    this.fill(held.el, held.message);
    this.queueLayout();
  }

  position(message) {
    let low = 0;
    let high = this.ids.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (before(this.items.get(this.ids[mid]).message, message)) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  addPending(clientId, text, files = []) {
    const message = {
      id: "",
      user: { id: this.viewer.userId, username: this.viewer.username },
      text,
      files,
      sent_at: new Date().toISOString(),
    };
    const item = this.render(message);
    item.classList.add("pending");
    item.dataset.clientId = clientId;
    item.querySelector(".meta").append(el("span", "state", "sending…"));
    this.list.append(item);
    this.pending.set(clientId, item);
    this.queueLayout();
  }

  /**
   * Show where a send stands (static/chat/outbox.js): `label` ("sending…", "waiting: …", "not
   * sent: …"), `state` as a class (`waiting`, `failed`), and for a failed one its buttons, each
   * `{name, label, describe, onClick}` (`describe`: the accessible name, saying which message).
   */
  pendingState(clientId, { state, label, buttons = [] }) {
    const item = this.pending.get(clientId);
    if (!item) return;
    item.classList.toggle("waiting", state === "waiting");
    item.classList.toggle("failed", state === "failed");
    item.querySelector(".meta .state").textContent = label;
    let bar = item.querySelector(".send-actions");
    if (!buttons.length) {
      bar?.remove();
      return;
    }
    if (!bar) {
      bar = el("div", "send-actions");
      item.append(bar);
    }
    bar.replaceChildren(...buttons.map(({ name, label: text, describe, onClick }) => {
      const button = this.button(name, text, onClick);
      if (describe) button.setAttribute("aria-label", describe);
      return button;
    }));
  }

  /** Remove a pending send (its server copy arrived); true if it was pending here. */
  settle(clientId) {
    const item = this.pending.get(clientId);
    if (!item) return false;
    this.sizes.unobserve(item.querySelector(".text"));
    item.remove();
    this.pending.delete(clientId);
    this.queueLayout();
    return true;
  }

  /** Start editing the viewer's newest message (not deleted, not pending): false if none. */
  editLast() {
    for (let at = this.ids.length - 1; at >= 0; at -= 1) {
      const { message } = this.items.get(this.ids[at]);
      if (message.deleted !== true && this.isOwn(message)) {
        this.startEdit(message.id);
        return true;
      }
    }
    return false;
  }

  render(message) {
    const item = el("li", "message");
    const n = ++this.serial;
    const ids = ["author", "time", "text"].map((part) => `${this.uid}-${n}-${part}`);
    item.setAttribute("role", "article");
    item.tabIndex = -1;
    item.setAttribute("aria-labelledby", `${ids[0]} ${ids[1]}`);
    item.setAttribute("aria-describedby", ids[2]);
    const meta = el("div", "meta");
    const author = el("span", "author");
    const time = el("time");
    [author.id, time.id] = ids;
    meta.append(author, time, el("span", "edited", "(edited)"));
    const text = el("div", "text");
    text.id = ids[2];
    const files = el("div", "files");
    files.hidden = true;
    item.append(meta, text, files, el("div", "reactions"), el("div", "actions"));
    this.fill(item, message);
    return item;
  }

  /** Write a message's fields into its element (used for new, edited and deleted messages). */
  fill(item, message) {
    const own = this.isOwn(message);
    const deleted = message.deleted === true;
    if (message.id) item.dataset.id = message.id;
    item.dataset.userId = String(message.user?.id ?? "");
    item.classList.toggle("own", own);
    item.classList.toggle("deleted", deleted);
    const author = message.user?.username;
    item.dataset.author = typeof author === "string" ? author : "";
    item.querySelector(".author").textContent = typeof author === "string" ? author : "unknown";

    const time = item.querySelector("time");
    const sent = parseDate(message.sent_at) ?? new Date();
    time.dateTime = sent.toISOString();
    time.textContent = timeFormat.format(sent);
    time.title = fullFormat.format(sent);
    item.dataset.day = dayKey(sent);
    item.dataset.sent = String(sent.getTime());

    const edited = item.querySelector(".edited");
    const editedAt = parseDate(message.edited_at);
    edited.hidden = !editedAt || deleted;
    edited.title = editedAt ? `edited ${fullFormat.format(editedAt)}` : "";

    const editor = item.querySelector(".edit-input");
    if (editor && deleted) editor.replaceWith(this.textBox(item)); // deleted while being edited
    if (!item.querySelector(".edit-input")) this.fillText(item, message);
    fillFiles(item.querySelector(".files"), message, { pending: !message.id });
    this.fillReactions(item, message);
    this.fillThread(item, message); // a deleted parent keeps its thread: before the return below
    const actions = item.querySelector(".actions");
    actions.replaceChildren();
    if (deleted || !message.id) return;
    // Named with the message they act on: a screen reader's list of buttons says whose.
    const whose = own ? "your message" : `the message from ${author ?? "unknown"}`;
    const react = this.button("react", "React", () => this.togglePalette(item, message.id));
    react.setAttribute("aria-label", `React to ${whose}`);
    actions.append(react);
    if (this.actions.reply && !message.thread) {
      const reply = this.button("reply", "Reply", () => this.actions.reply(message.id, reply));
      reply.setAttribute("aria-label", `Reply in thread to ${whose}`);
      actions.append(reply);
    }
    if (own) {
      const edit = this.button("edit", "Edit", () => this.startEdit(message.id));
      edit.setAttribute("aria-label", "Edit your message");
      actions.append(edit);
    }
    if (own || this.viewer.staff) {
      const remove = this.button("delete", "Delete", () => this.actions.remove(message.id));
      remove.setAttribute("aria-label", `Delete ${whose}`);
      actions.append(remove);
    }
  }

  /** One button per emoji with its count (pressed if the viewer is among them): a click
   * adds or takes back the viewer's own. */
  fillReactions(item, message) {
    const box = item.querySelector(".reactions");
    box.replaceChildren();
    const reactions = Array.isArray(message.reactions) && message.deleted !== true
      ? message.reactions : [];
    for (const reaction of reactions) {
      if (typeof reaction?.emoji !== "string" || !Array.isArray(reaction.users)) continue;
      const names = reaction.users.map((user) => String(user?.username ?? ""));
      const mine = reaction.users.some((user) => String(user?.id) === this.viewer.userId);
      const button = this.button("reaction", `${reaction.emoji} ${reaction.users.length}`, () =>
        this.actions.react(message.id, reaction.emoji, mine));
      button.dataset.emoji = reaction.emoji;
      button.setAttribute("aria-pressed", String(mine));
      button.title = names.join(", ");
      box.append(button);
    }
    box.hidden = reactions.length === 0;
  }

  /** A parent's "N replies · last reply 3 min ago", its repliers and the viewer's unread count
   * (a button: opens the thread); a reply also shown in the room links to its thread. */
  fillThread(item, message) {
    const open = this.actions.openThread;
    let summary = item.querySelector(".thread-summary");
    const text = open && message.id ? summaryText(message.replies) : null;
    if (!text) {
      summary?.remove();
    } else {
      if (!summary) {
        summary = this.button("thread-summary", "", () => open(message.id, summary));
        item.querySelector(".reactions").after(summary);
      }
      const names = replierNames(message.replies);
      const unread = this.threadUnread.get(message.id) ?? 0;
      // Its name is what it shows (and says it opens): no aria-label to drift from the text.
      summary.replaceChildren(el("span", "thread-count", text));
      if (names.length) summary.append(" ", el("span", "thread-people", names.join(", ")));
      if (unread) summary.append(" ", el("span", "badge thread-unread", `${unread} new`));
      summary.append(el("span", "visually-hidden", " (open the thread)"));
    }
    let link = item.querySelector(".in-thread");
    if (!(open && message.thread)) {
      link?.remove();
    } else if (!link) {
      link = this.button("in-thread", "replied in a thread", () => open(message.thread, link));
      link.setAttribute("aria-label", "Replied in a thread: open the thread");
      item.querySelector(".meta").append(link);
    }
  }

  /** The viewer's unread count in a followed thread, shown on its parent. */
  setThreadUnread(id, unread) {
    const count = Math.max(0, Number(unread) || 0);
    if (count) this.threadUnread.set(id, count);
    else this.threadUnread.delete(id);
    const held = this.items.get(id);
    if (held) this.fillThread(held.el, held.message);
  }

  /** The palette under a message: six emoji, and "Other…" for any single emoji (a picker). */
  togglePalette(item, id) {
    const open = item.querySelector(".palette");
    if (open) {
      open.remove();
      return;
    }
    const palette = el("div", "palette");
    palette.setAttribute("role", "group");
    palette.setAttribute("aria-label", "Add a reaction");
    const pick = (emoji) => {
      const returnTo = palette.contains(document.activeElement);
      palette.remove();
      if (returnTo) item.querySelector("button.react")?.focus();
      if (emoji) this.actions.react(id, emoji, false);
    };
    for (const emoji of PALETTE) palette.append(this.button("pick", emoji, () => pick(emoji)));
    const other = this.button("pick-other", "Other…", () => {
      if (palette.querySelector(".emoji-picker")) return;
      openEmojiPicker({ anchor: other, onPick: pick });
    });
    other.setAttribute("aria-haspopup", "dialog");
    palette.append(other);
    palette.addEventListener("keydown", (event) => {
      if (event.key !== "Escape" || event.defaultPrevented) return;
      event.preventDefault();
      palette.remove();
      item.querySelector("button.react")?.focus();
    });
    item.querySelector(".actions").after(palette);
    palette.querySelector("button").focus();
  }

  textBox(item) {
    const text = el("div", "text");
    text.id = item.getAttribute("aria-describedby");
    return text;
  }

  fillText(item, message) {
    const text = item.querySelector(".text");
    this.sizes.unobserve(text);
    item.querySelector(".more")?.remove();
    delete item.dataset.expanded;
    text.classList.remove("clamped");
    if (message.deleted === true) {
      text.replaceChildren(document.createTextNode("message deleted"));
      return;
    }
    text.replaceChildren(renderMarkdown(String(message.text ?? ""), { viewer: this.viewer }));
    text.classList.add("clamped");
    this.sizes.observe(text);
  }

  /** A clamped text that hides something gets "Show more"; one that does not, no button. */
  measure(text) {
    const item = text.closest("li.message");
    if (!item || !text.isConnected || item.dataset.expanded === "true") return;
    if (!text.classList.contains("clamped")) return;
    const hides = text.scrollHeight > text.clientHeight + 1;
    let more = item.querySelector(".more");
    if (!hides) {
      more?.remove();
      return;
    }
    if (more) return;
    more = this.button("more", "Show more", () => {
      const expand = item.dataset.expanded !== "true";
      item.dataset.expanded = String(expand);
      text.classList.toggle("clamped", !expand);
      more.textContent = expand ? "Show less" : "Show more";
      more.setAttribute("aria-expanded", String(expand));
      if (!expand) item.scrollIntoView({ block: "nearest" });
    });
    more.setAttribute("aria-expanded", "false");
    more.setAttribute("aria-controls", text.id);
    text.after(more);
  }

  button(className, label, onClick) {
    const button = el("button", className, label);
    button.type = "button";
    button.addEventListener("click", onClick);
    return button;
  }

  /** Edit in place, in a textarea: Enter saves, Shift+Enter adds a line, Escape cancels. */
  startEdit(id) {
    const held = this.items.get(id);
    if (!held || held.el.querySelector(".edit-input")) return;
    const { el: item, message } = held;
    const input = el("textarea", "edit-input");
    input.value = String(message.text ?? "");
    input.rows = Math.min(8, input.value.split("\n").length + 1);
    input.setAttribute("aria-label", "Edit message (Enter saves, Escape cancels)");
    const close = () => {
      input.replaceWith(this.textBox(item));
      this.fillText(item, held.message);
      (item.querySelector("button.edit") ?? item).focus();
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        close();
      } else if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        const text = input.value;
        if (text === held.message.text || !text.trim()) close();
        else if (this.actions.edit(id, text)) close();
      }
    });
    this.sizes.unobserve(item.querySelector(".text"));
    item.querySelector(".more")?.remove();
    item.querySelector(".text").replaceWith(input);
    this.feed.activate(item);
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
  }

  /** Grouping, and after a change no refreshSeparators() follows, in a microtask. */
  queueLayout() {
    if (this.layoutQueued) return;
    this.layoutQueued = true;
    queueMicrotask(() => {
      if (this.layoutQueued) this.refreshSeparators();
    });
  }

  /** Day separators exactly where the local day changes between neighbouring messages; then
   * the grouping (which a separator breaks). */
  refreshSeparators() {
    let previousDay = null;
    for (let child = this.list.firstElementChild; child; ) {
      const next = child.nextElementSibling;
      if (child.classList.contains("day-separator")) {
        const day = child.dataset.day;
        const valid = next?.classList.contains("message") && next.dataset.day === day
          && day !== previousDay;
        if (!valid) child.remove();
      } else if (child.classList.contains("message")) {
        const day = child.dataset.day;
        if (day !== previousDay) {
          const before = child.previousElementSibling;
          if (!before?.classList.contains("day-separator")) {
            this.list.insertBefore(this.separator(day), child);
          }
          previousDay = day;
        }
      }
      child = next;
    }
    this.refreshGroups();
  }

  /**
   * A message continues the one just above it (`.continued`: no name and time shown) when the
   * same person sent it within GROUP_MS, the same day, with nothing between (a day separator,
   * the "New messages" line). Deleted and pending messages keep their place in a group.
   */
  refreshGroups() {
    this.layoutQueued = false;
    let previous = null;
    for (let child = this.list.firstElementChild; child; child = child.nextElementSibling) {
      if (!child.classList.contains("message")) {
        previous = null;
        continue;
      }
      const continues = previous !== null
        && previous.dataset.userId === child.dataset.userId
        && previous.dataset.author === child.dataset.author
        && previous.dataset.day === child.dataset.day
        && Number(child.dataset.sent) - Number(previous.dataset.sent) < GROUP_MS
        && Number(child.dataset.sent) >= Number(previous.dataset.sent) - GROUP_MS;
      child.classList.toggle("continued", continues);
      previous = child;
    }
  }

  separator(day) {
    const item = el("li", "day-separator");
    item.setAttribute("role", "none");
    item.dataset.day = day;
    const [year, month, date] = day.split("-").map(Number);
    const time = el("time", null, dayFormat.format(new Date(year, month - 1, date)));
    time.dateTime = day;
    item.append(time);
    return item;
  }
}
