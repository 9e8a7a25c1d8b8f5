// Autocomplete of @mentions in the composer: typing "@" and the start of a member's name lists
// the private room's members that match; Tab or Enter (or a click) puts the name in, Escape
// closes the list. Only members can be mentioned (the server refuses other names).

const MAX_SHOWN = 6;
const PARTIAL_RE = /(?:^|[^\w@.+-])@([\w.+-]*)$/; // "@na" just before the caret

export class MentionCompleter {
  /**
   * @param {HTMLTextAreaElement} input the composer
   * @param {HTMLUListElement} box where suggestions are listed
   * @param {string[]} names the room's members' usernames (the viewer's own left out)
   */
  constructor(input, box, names) {
    this.input = input;
    this.box = box;
    this.names = [...names].sort();
    this.matches = [];
    this.selected = 0;
    input.addEventListener("input", () => this.refresh());
    input.addEventListener("blur", () => setTimeout(() => this.close(), 150));
  }

  get open() {
    return this.matches.length > 0;
  }

  refresh() {
    const before = this.input.value.slice(0, this.input.selectionStart);
    const partial = PARTIAL_RE.exec(before)?.[1];
    this.matches = partial === undefined
      ? []
      : this.names.filter((name) => name.startsWith(partial)).slice(0, MAX_SHOWN);
    this.selected = 0;
    this.render();
  }

  render() {
    this.box.replaceChildren();
    this.box.hidden = !this.open;
    this.matches.forEach((name, index) => {
      const item = document.createElement("li");
      item.textContent = `@${name}`;
      item.setAttribute("role", "option");
      item.setAttribute("aria-selected", String(index === this.selected));
      item.addEventListener("mousedown", (event) => {
        event.preventDefault(); // keep the composer's focus
        this.accept(name);
      });
      this.box.append(item);
    });
  }

  /** Handle a key while the list is open; true if it was the list's. */
  key(event) {
    if (!this.open) return false;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      const step = event.key === "ArrowDown" ? 1 : -1;
      this.selected = (this.selected + step + this.matches.length) % this.matches.length;
      this.render();
    } else if (event.key === "Tab" || (event.key === "Enter" && !event.shiftKey)) {
      this.accept(this.matches[this.selected]);
    } else if (event.key === "Escape") {
      this.close();
    } else {
      return false;
    }
    event.preventDefault();
    return true;
  }

  accept(name) {
    const caret = this.input.selectionStart;
    const before = this.input.value.slice(0, caret).replace(/@([\w.+-]*)$/, `@${name} `);
    this.input.value = before + this.input.value.slice(caret);
    this.input.setSelectionRange(before.length, before.length);
    this.input.dispatchEvent(new Event("input")); // the counter, typing; and closes the list
  }

  close() {
    this.matches = [];
    this.render();
  }
}
