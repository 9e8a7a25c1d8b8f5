// Autocomplete of @mentions in the composer: typing "@" and the start of a member's name lists
// the private room's members that match; Tab or Enter (or a click) puts the name in, Escape
// closes the list. Only members can be mentioned (the server refuses other names). The composer
// is made an ARIA combobox (APG "editable combobox with list autocomplete") over the list:
// focus stays in the text box, aria-activedescendant names the highlighted option.

const MAX_SHOWN = 6;
const PARTIAL_RE = /(?:^|[^\w@.+-])@([\w.+-]*)$/; // "@na" just before the caret
let completers = 0; // ids of options unique on the page (one completer per composer)

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
    this.uid = `mention-${++completers}`;
    if (!box.id) box.id = `${this.uid}-list`;
    box.setAttribute("role", "listbox");
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", box.id);
    input.setAttribute("aria-expanded", "false");
    input.addEventListener("input", () => this.refresh());
    input.addEventListener("blur", () => setTimeout(() => this.close(), 150));
  }

  /** Another room's members (the app switches rooms without a reload). */
  setNames(names) {
    this.names = [...names].sort();
    this.close();
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
    this.input.setAttribute("aria-expanded", String(this.open));
    if (this.open) this.input.setAttribute("aria-activedescendant", `${this.uid}-${this.selected}`);
    else this.input.removeAttribute("aria-activedescendant");
    this.matches.forEach((name, index) => {
      const item = document.createElement("li");
      item.id = `${this.uid}-${index}`;
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
