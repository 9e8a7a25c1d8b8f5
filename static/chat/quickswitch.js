// Ctrl/⌘+K: a modal dialog with a combobox over the sidebar's rooms (the WAI-ARIA combobox
// pattern with a listbox popup): typing filters, ↑/↓ choose, Enter opens, Escape closes and
// gives focus back to where it was.

const MAX_SHOWN = 12;

export class QuickSwitcher {
  /**
   * @param {HTMLDialogElement} dialog holding `input[role=combobox]` and `ul[role=listbox]`
   * @param {object} options
   * @param {() => Array<{room, label, kind, unread, mentions, current}>} options.rooms
   * @param {(room: string) => void} options.open
   */
  constructor(dialog, { rooms, open }) {
    this.dialog = dialog;
    this.input = dialog.querySelector("[role=combobox]");
    this.list = dialog.querySelector("[role=listbox]");
    this.rooms = rooms;
    this.open = open;
    this.matches = [];
    this.selected = 0;
    this.returnTo = null;
    this.input.addEventListener("input", () => this.filter());
    this.input.addEventListener("keydown", (event) => this.key(event));
    this.list.addEventListener("mousedown", (event) => event.preventDefault()); // keep focus
    this.list.addEventListener("click", (event) => {
      const option = event.target.closest("[role=option]");
      if (option) this.choose(Number(option.dataset.index));
    });
    dialog.addEventListener("close", () => {
      this.returnTo?.focus?.();
      this.returnTo = null;
    });
    dialog.addEventListener("click", (event) => {
      if (event.target === dialog) dialog.close(); // a click on the backdrop
    });
    document.addEventListener("keydown", (event) => {
      if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "k") {
        event.preventDefault();
        if (dialog.open) dialog.close();
        else this.show();
      }
    });
  }

  show() {
    this.returnTo = document.activeElement;
    this.input.value = "";
    this.filter();
    this.dialog.showModal();
    this.input.focus();
  }

  filter() {
    const typed = this.input.value.trim().toLowerCase().replace(/^#/, "");
    const all = this.rooms();
    const score = (entry) => {
      const label = entry.label.toLowerCase().replace(/^#/, "");
      if (!typed) return 0;
      if (label.startsWith(typed) || entry.room.startsWith(typed)) return 0;
      if (label.includes(typed) || entry.room.includes(typed)) return 1;
      return -1;
    };
    this.matches = all
      .map((entry) => ({ entry, rank: score(entry) }))
      .filter(({ rank }) => rank >= 0)
      // Unread first when nothing is typed: where one usually wants to go next.
      .sort((a, b) => a.rank - b.rank || (typed ? 0 : Number(b.entry.unread > 0) - Number(a.entry.unread > 0)))
      .slice(0, MAX_SHOWN)
      .map(({ entry }) => entry);
    // Nothing typed: start on the first room that is not the current one.
    this.selected = !typed && this.matches.length > 1 && this.matches[0].current ? 1 : 0;
    this.render();
  }

  render() {
    const items = this.matches.map((entry, index) => {
      const item = document.createElement("li");
      item.id = `quick-switch-option-${index}`;
      item.setAttribute("role", "option");
      item.dataset.index = String(index);
      item.dataset.room = entry.room;
      item.setAttribute("aria-selected", String(index === this.selected));
      const label = document.createElement("span");
      label.className = "qs-label";
      label.textContent = entry.label;
      item.append(label);
      const what = entry.mentions > 0 ? `@${entry.mentions}` : entry.unread > 0 ? String(entry.unread) : "";
      if (what) {
        const count = document.createElement("span");
        count.className = `qs-count${entry.mentions > 0 ? " mention" : ""}`;
        count.textContent = what;
        count.setAttribute("aria-label", entry.mentions > 0
          ? `${entry.mentions} mentions` : `${entry.unread} unread`);
        item.append(count);
      }
      if (entry.current) {
        const here = document.createElement("span");
        here.className = "qs-here";
        here.textContent = "current";
        item.append(here);
      }
      return item;
    });
    if (!items.length) {
      const none = document.createElement("li");
      none.className = "qs-none";
      none.textContent = "No room matches";
      items.push(none);
    }
    this.list.replaceChildren(...items);
    if (this.matches.length) {
      this.input.setAttribute("aria-activedescendant", `quick-switch-option-${this.selected}`);
      this.list.querySelector("[aria-selected=true]")?.scrollIntoView({ block: "nearest" });
    } else {
      this.input.removeAttribute("aria-activedescendant");
    }
  }

  key(event) {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (!this.matches.length) return;
      const step = event.key === "ArrowDown" ? 1 : -1;
      this.selected = (this.selected + step + this.matches.length) % this.matches.length;
      this.render();
    } else if (event.key === "Enter") {
      event.preventDefault();
      this.choose(this.selected);
    }
    // Escape: the dialog's own cancel closes it, and `close` gives focus back.
  }

  choose(index) {
    const entry = this.matches[index];
    if (!entry) return;
    this.returnTo = null; // focus goes to the room opened (its composer), not back
    this.dialog.close();
    this.open(entry.room);
  }
}
