// The chat page's sidebar: every room the user is in (joined public rooms, private rooms,
// conversations) with its unread and mention badges, kept live by `unread` frames and by
// `/api/unread/` (big rooms send no frames: the page reads the counts again on reconnect, when
// the tab is shown and every few minutes); the current room marked; Mute and Leave per entry.

import { badgesSet, unreadShow } from "./badges.js";
import { csrfToken } from "./site.js";

const KINDS = ["public", "private", "direct"];

export class Sidebar {
  /**
   * @param {HTMLElement} root `#switcher`, holding one `ul.sidebar-list[data-kind]` per kind
   * @param {object} options
   * @param {import("./notify.js").Notifier} options.notifier
   * @param {(room: string, url: string) => void} options.open a click on an entry (no reload)
   * @param {(room: string) => void} [options.left] the user left `room` from its menu
   * @param {string} [options.csrf] the page's CSRF token (the cookie's is preferred)
   */
  constructor(root, { notifier, open, left = () => {}, csrf = "" }) {
    this.root = root;
    this.notifier = notifier;
    this.open = open;
    this.left = left;
    this.csrf = csrf;
    this.current = null;
    this.menu = null; // the entry whose menu is open
    root.addEventListener("click", (event) => this.clicked(event));
    document.addEventListener("click", (event) => {
      if (this.menu && !this.menu.contains(event.target)) this.closeMenu();
    });
    root.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.menu) {
        const button = this.menu.querySelector(".entry-menu-button");
        this.closeMenu();
        button?.focus();
        event.stopPropagation();
      }
    });
  }

  entry(room) {
    return this.root.querySelector(`li[data-room="${CSS.escape(room)}"]`);
  }

  /** Every entry, in the sidebar's order: what the quick switcher offers. */
  rooms() {
    return [...this.root.querySelectorAll("li[data-room]")].map((li) => ({
      room: li.dataset.room,
      kind: li.dataset.kind,
      label: li.querySelector(".room-title").textContent.trim(),
      url: li.querySelector("a").getAttribute("href"),
      unread: Number(li.querySelector(".badge.unread")?.dataset.count) || 0,
      mentions: Number(li.querySelector(".badge.mention")?.dataset.count) || 0,
      current: li.dataset.room === this.current,
    }));
  }

  /** Mark `room` as the one shown (its own badges are not shown: it is being read). */
  setCurrent(room, { kind = "public", label = `#${room}` } = {}) {
    this.current = room;
    const entry = this.ensure({ room, kind, label });
    for (const link of this.root.querySelectorAll("a[aria-current]")) {
      link.removeAttribute("aria-current");
    }
    entry.querySelector("a").setAttribute("aria-current", "page");
    badgesSet(entry, { unread: 0, mentions: 0 });
  }

  /** The entry of `room`, added to its section (sorted by label) if it is not there yet. */
  ensure({ room, kind, label }) {
    const found = this.entry(room);
    if (found) return found;
    const section = this.root.querySelector(
      `ul[data-kind="${KINDS.includes(kind) ? kind : "public"}"]`,
    );
    const li = document.createElement("li");
    li.className = "sidebar-entry";
    li.dataset.room = room;
    li.dataset.kind = kind;
    li.dataset.direct = String(kind === "direct");
    li.dataset.muted = "false";
    const link = document.createElement("a");
    link.href = `/rooms/${encodeURIComponent(room)}/`;
    const title = document.createElement("span");
    title.className = "room-title";
    title.textContent = label;
    link.append(title);
    const badges = document.createElement("span");
    badges.className = "badges";
    for (const name of ["mention", "unread"]) {
      const badge = document.createElement("span");
      badge.className = `badge ${name}`;
      badge.hidden = true;
      badges.append(badge);
    }
    const menu = document.createElement("button");
    menu.type = "button";
    menu.className = "entry-menu-button";
    menu.setAttribute("aria-haspopup", "menu");
    menu.setAttribute("aria-expanded", "false");
    menu.setAttribute("aria-label", `Options for ${label}`);
    menu.textContent = "⋯";
    li.append(link, badges, menu);
    const after = [...section.children].find(
      (other) => other.querySelector(".room-title").textContent.localeCompare(label) > 0,
    );
    section.insertBefore(li, after ?? null);
    return li;
  }

  /** An `unread` frame (or counts read again, `quiet`): the entry's badges, maybe a
   * notification. A muted room shows its counts dimmed and never notifies. */
  show(frame) {
    if (typeof frame.room !== "string" || frame.room === this.current) return;
    let entry = this.entry(frame.room);
    if (!entry && typeof frame.kind === "string" && typeof frame.label === "string") {
      entry = this.ensure({ room: frame.room, kind: frame.kind, label: frame.label });
    }
    if (!entry) return;
    if (typeof frame.muted === "boolean") this.setMuted(entry, frame.muted);
    const quiet = frame.quiet || entry.dataset.muted === "true";
    unreadShow(entry, { ...frame, quiet }, this.notifier);
  }

  /** `{room: {unread, mentions, kind?, label?, muted?}}` from `/api/unread/`. */
  showAll(counts) {
    for (const [room, entry] of Object.entries(counts ?? {})) {
      this.show({ ...entry, room, quiet: true });
    }
  }

  setMuted(entry, muted) {
    entry.dataset.muted = String(muted);
    entry.classList.toggle("muted", muted);
  }

  clicked(event) {
    const button = event.target.closest(".entry-menu-button");
    if (button) {
      this.toggleMenu(button.closest("li"));
      return;
    }
    const action = event.target.closest("[data-action]");
    if (action) {
      this.act(action.closest("li"), action.dataset.action);
      return;
    }
    const link = event.target.closest("li[data-room] > a");
    if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault(); // opened in place; a modified click opens a tab as links do
    this.open(link.closest("li").dataset.room, link.getAttribute("href"));
  }

  toggleMenu(entry) {
    const wasOpen = this.menu === entry;
    this.closeMenu();
    if (wasOpen) return;
    this.menu = entry;
    const label = entry.querySelector(".room-title").textContent.trim();
    const box = document.createElement("div");
    box.className = "entry-menu";
    box.setAttribute("role", "menu");
    box.setAttribute("aria-label", `Options for ${label}`);
    const items = [
      entry.dataset.muted === "true" ? ["unmute", `Unmute ${label}`, "Unmute"]
        : ["mute", `Mute ${label}`, "Mute"],
    ];
    if (entry.dataset.kind === "public") items.push(["leave", `Leave ${label}`, "Leave"]);
    for (const [action, name, text] of items) {
      const item = document.createElement("button");
      item.type = "button";
      item.setAttribute("role", "menuitem");
      item.dataset.action = action;
      item.setAttribute("aria-label", name);
      item.textContent = text;
      box.append(item);
    }
    box.addEventListener("keydown", (event) => {
      const all = [...box.querySelectorAll("[role=menuitem]")];
      const at = all.indexOf(document.activeElement);
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        const step = event.key === "ArrowDown" ? 1 : -1;
        all[(at + step + all.length) % all.length].focus();
      }
    });
    entry.append(box);
    entry.querySelector(".entry-menu-button").setAttribute("aria-expanded", "true");
    box.querySelector("button").focus();
  }

  closeMenu() {
    if (!this.menu) return;
    this.menu.querySelector(".entry-menu")?.remove();
    this.menu.querySelector(".entry-menu-button")?.setAttribute("aria-expanded", "false");
    this.menu = null;
  }

  async act(entry, action) {
    const room = entry.dataset.room;
    this.closeMenu();
    const path = action === "leave" ? "leave" : "mute";
    const body = action === "leave" ? {} : { muted: action === "mute" };
    let response;
    try {
      response = await fetch(`/api/rooms/${encodeURIComponent(room)}/${path}/`, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(this.csrf) },
        body: JSON.stringify(body),
      });
    } catch {
      return;
    }
    if (!response.ok) return;
    if (action === "leave") {
      entry.remove();
      this.left(room);
    } else {
      this.setMuted(entry, action === "mute");
      entry.querySelector(".entry-menu-button").focus();
    }
  }
}
