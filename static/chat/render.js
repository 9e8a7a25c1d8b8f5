// The message list: messages kept unique and sorted by id, day separators, pending sends, inline
// editing, deleted messages, and links made safe. User text reaches the DOM only as text nodes.

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "short" });
const dayFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "full" });

// Candidates only: each is then parsed by URL() and kept as a link only if http(s).
const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;
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

/** A URL candidate without the punctuation that ends its sentence; balanced ")" stay. */
function trimUrl(candidate) {
  let end = candidate.length;
  while (end > 0) {
    const last = candidate[end - 1];
    const head = candidate.slice(0, end);
    const unbalanced = last === ")" && head.split(")").length > head.split("(").length;
    if (!".,;:!?'\"]}".includes(last) && !unbalanced) break;
    end -= 1;
  }
  return candidate.slice(0, end);
}

/** Text as nodes, with http: and https: URLs as links; every other scheme stays plain text. */
export function linkify(text) {
  const fragment = document.createDocumentFragment();
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    const candidate = trimUrl(match[0]);
    let url;
    try {
      url = new URL(candidate);
    } catch {
      continue;
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") continue;
    fragment.append(document.createTextNode(text.slice(last, match.index)));
    const anchor = el("a", null, candidate);
    anchor.href = url.href;
    anchor.rel = "noopener noreferrer nofollow";
    anchor.target = "_blank";
    fragment.append(anchor);
    last = match.index + candidate.length;
  }
  fragment.append(document.createTextNode(text.slice(last)));
  return fragment;
}

// `@username` as the server reads it (lambdas/services/messages.py MENTION_RE).
export const MENTION_RE = /(?<![\w@.+-])@([\w.+-]*[\w+-])/g;

/** Wrap each @username of the fragment's text nodes (not inside links) in a span, marked
 * `.me` when it names the viewer; text stays text. */
/** Whether message `a` comes before `b` in the room: by place (`seq`), then id. */
function before(a, b) {
  const [sa, sb] = [a.seq ?? 0, b.seq ?? 0];
  return sa !== sb ? sa < sb : a.id < b.id;
}

/** An update older than the state held (a late live copy after a repair): ignored. */
function stale(held, update) {
  return Number.isInteger(held.rev) && Number.isInteger(update.rev) && update.rev < held.rev;
}

export function mentionify(fragment, username) {
  for (const node of [...fragment.childNodes]) {
    if (node.nodeType !== Node.TEXT_NODE) continue;
    const text = node.textContent;
    const parts = document.createDocumentFragment();
    let last = 0;
    for (const match of text.matchAll(MENTION_RE)) {
      parts.append(document.createTextNode(text.slice(last, match.index)));
      const span = el("span", match[1] === username ? "mention me" : "mention", match[0]);
      parts.append(span);
      last = match.index + match[0].length;
    }
    if (last === 0) continue;
    parts.append(document.createTextNode(text.slice(last)));
    node.replaceWith(parts);
  }
  return fragment;
}

export class MessageList {
  /**
   * @param {HTMLOListElement} list
   * @param {object} viewer {userId, username, staff}
   * @param {object} actions {edit(id, text), remove(id), react(id, emoji, remove)} called from
   *   the per-message buttons
   */
  constructor(list, viewer, actions) {
    this.list = list;
    this.viewer = viewer;
    this.actions = actions;
    this.items = new Map(); // id -> {el, message}
    // Ids held in the room's order: by `seq` (a message's place), then id (ULIDs sort by time;
    // messages stored before numbering have no `seq` and come first).
    this.ids = [];
    this.pending = new Map(); // clientMessageId -> element, in the order they were sent
    this.marker = el("li", "history-marker");
    this.list.prepend(this.marker);
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
      start: "This is the beginning of the room.",
    }[state];
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
      return false;
    }
    const item = this.render(message);
    const at = this.position(message);
    this.items.set(id, { el: item, message });
    this.ids.splice(at, 0, id);
    const next = at + 1 < this.ids.length ? this.items.get(this.ids[at + 1]).el : null;
    this.list.insertBefore(item, next ?? this.pending.values().next().value ?? null);
    return true;
  }

  /** Apply an edit or deletion to a message shown; ones not held (older than the page) wait. */
  update(message) {
    const held = this.items.get(message.id);
    if (!held || stale(held.message, message)) return;
    held.message = { ...held.message, ...message };
    this.fill(held.el, held.message);
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

  addPending(clientId, text) {
    const message = {
      id: "",
      user: { id: this.viewer.userId, username: this.viewer.username },
      text,
      sent_at: new Date().toISOString(),
    };
    const item = this.render(message);
    item.classList.add("pending");
    item.dataset.clientId = clientId;
    item.querySelector(".meta").append(el("span", "state", "sending…"));
    this.list.append(item);
    this.pending.set(clientId, item);
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
    item.remove();
    this.pending.delete(clientId);
    return true;
  }

  render(message) {
    const item = el("li", "message");
    const meta = el("div", "meta");
    meta.append(el("span", "author"), el("time"), el("span", "edited", "(edited)"));
    item.append(meta, el("p", "text"), el("div", "reactions"), el("div", "actions"));
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
    item.querySelector(".author").textContent = typeof author === "string" ? author : "unknown";

    const time = item.querySelector("time");
    const sent = parseDate(message.sent_at) ?? new Date();
    time.dateTime = sent.toISOString();
    time.textContent = timeFormat.format(sent);
    time.title = fullFormat.format(sent);
    item.dataset.day = dayKey(sent);

    const edited = item.querySelector(".edited");
    const editedAt = parseDate(message.edited_at);
    edited.hidden = !editedAt || deleted;
    edited.title = editedAt ? `edited ${fullFormat.format(editedAt)}` : "";

    const editor = item.querySelector(".edit-input");
    if (editor && deleted) editor.replaceWith(el("p", "text")); // deleted while being edited
    if (!item.querySelector(".edit-input")) this.fillText(item, message);
    this.fillReactions(item, message);
    const actions = item.querySelector(".actions");
    actions.replaceChildren();
    if (deleted || !message.id) return;
    // Named with the message they act on: a screen reader's list of buttons says whose.
    const whose = own ? "your message" : `the message from ${author ?? "unknown"}`;
    const react = this.button("react", "React", () => this.togglePalette(item, message.id));
    react.setAttribute("aria-label", `React to ${whose}`);
    actions.append(react);
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

  /** The palette under a message: six emoji, and "Other…" for any single emoji. */
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
      palette.remove();
      if (emoji) this.actions.react(id, emoji, false);
    };
    for (const emoji of PALETTE) palette.append(this.button("pick", emoji, () => pick(emoji)));
    palette.append(this.button("pick-other", "Other…", () => {
      pick((window.prompt("React with an emoji:") ?? "").trim());
    }));
    item.querySelector(".actions").after(palette);
  }

  fillText(item, message) {
    const text = item.querySelector(".text");
    if (message.deleted === true) text.replaceChildren(document.createTextNode("message deleted"));
    else text.replaceChildren(mentionify(linkify(String(message.text ?? "")), this.viewer.username));
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
      input.replaceWith(el("p", "text"));
      this.fillText(item, held.message);
      item.querySelector("button.edit")?.focus();
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
    item.querySelector(".text").replaceWith(input);
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
  }

  /** Day separators exactly where the local day changes between neighbouring messages. */
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
  }

  separator(day) {
    const item = el("li", "day-separator");
    item.dataset.day = day;
    const [year, month, date] = day.split("-").map(Number);
    const time = el("time", null, dayFormat.format(new Date(year, month - 1, date)));
    time.dateTime = day;
    item.append(time);
    return item;
  }
}
