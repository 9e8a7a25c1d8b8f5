// Who else is here: the presence list and the "alice is typing…" line.

// How long "… is typing" shows without their message: a page says it once per composing burst
// (typing.js), so this is the indicator's whole life unless the message comes first.
const TYPING_SHOWN_MS = 15_000;
const names = new Intl.ListFormat("en", { style: "long", type: "conjunction" });

export class Presence {
  constructor(list, viewer) {
    this.list = list;
    this.viewer = viewer;
  }

  /** Show the server's list as given: it is already sorted and has each user once. */
  /** @param {number} [online] everyone online, when a large room's list names only some */
  show(users, online) {
    const items = [];
    const seen = new Set();
    for (const user of users) {
      const id = String(user?.id ?? "");
      if (!id || seen.has(id) || typeof user.username !== "string") continue;
      seen.add(id);
      const item = document.createElement("li");
      item.dataset.userId = id;
      item.textContent = user.username;
      if (id === this.viewer.userId) item.classList.add("self");
      items.push(item);
    }
    const count = Number.isInteger(online) && online > items.length ? online : items.length;
    if (count > items.length) {
      const more = document.createElement("li");
      more.className = "more";
      more.textContent = `and ${(count - items.length).toLocaleString()} more`;
      items.push(more);
    }
    this.list.replaceChildren(...items);
    this.list.dataset.count = String(count);
  }
}

export class TypingIndicator {
  constructor(element, viewer) {
    this.element = element;
    this.viewer = viewer;
    this.typing = new Map(); // user id -> {username, timer}
  }

  /** Someone is typing: show them for a few seconds unless they type again. */
  started(user) {
    const id = String(user?.id ?? "");
    if (!id || id === this.viewer.userId || typeof user.username !== "string") return;
    clearTimeout(this.typing.get(id)?.timer);
    const timer = setTimeout(() => this.stopped(user), TYPING_SHOWN_MS);
    this.typing.set(id, { username: user.username, timer });
    this.render();
  }

  /** They stopped (their message arrived, or time passed). */
  stopped(user) {
    const id = String(user?.id ?? "");
    const entry = this.typing.get(id);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.typing.delete(id);
    this.render();
  }

  /** Forget everyone (after a reconnect, what was typed meanwhile is unknown). */
  clear() {
    for (const entry of this.typing.values()) clearTimeout(entry.timer);
    this.typing.clear();
    this.render();
  }

  render() {
    const who = [...this.typing.values()].map((entry) => entry.username);
    // The line keeps its height when empty, so the messages above do not jump.
    const verb = who.length === 1 ? "is" : "are";
    const text = who.length ? `${names.format(who)} ${verb} typing…` : "";
    // Only on change: rewriting the same text would make screen readers announce it again.
    if (this.element.textContent !== text) this.element.textContent = text;
  }
}
