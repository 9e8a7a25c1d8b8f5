// Reactions with any emoji: the check the server makes (lambdas/protocol.py emoji_check), and
// the in-page picker behind "Other…" (a grid of common emoji and a field for any single one).

const MAX_EMOJI_CHARS = 16; // code points: the longest family and flag sequences fit
const MODIFIER_RE = /^[\uFE0F\uFE0E\u20E3\u{1F3FB}-\u{1F3FF}\u{E0020}-\u{E007F}]$/u;
const SYMBOL_RE = /^\p{So}$/u;
const KEYCAP_BASES = "0123456789#*";

const isRegional = (char) => char.codePointAt(0) >= 0x1f1e6 && char.codePointAt(0) <= 0x1f1ff;

/** Whether `value` is one emoji as the server accepts it: a pictograph with its modifiers and
 * ZWJ joins, a flag (two regional indicators, or a tag sequence), or a keycap. */
export function isOneEmoji(value) {
  if (typeof value !== "string") return false;
  // Python's len() counts code points; MAX_EMOJI_CHARS is in those.
  const length = [...value].length;
  if (length === 0 || length > MAX_EMOJI_CHARS) return false;
  for (const part of value.split("\u200d")) {
    const bases = [...part].filter((char) => !MODIFIER_RE.test(char));
    if (bases.length === 2 && bases.every(isRegional)) continue; // a country flag
    if (bases.length !== 1) return false;
    const [base] = bases;
    if (KEYCAP_BASES.includes(base)) {
      if (!part.includes("\u20e3")) return false;
    } else if (!SYMBOL_RE.test(base) || isRegional(base)) {
      return false;
    }
  }
  return true;
}

export const COMMON_EMOJI = Object.freeze([
  "👍", "👎", "❤️", "😂", "🎉", "😮", "😢", "🙏",
  "🔥", "👀", "✅", "❌", "💯", "🚀", "🤔", "😄",
  "😍", "😅", "🙌", "👏", "💡", "⭐", "☕", "🍕",
]);
const COLUMNS = 8;

let pickers = 0;

/**
 * Open the picker in `container` (after `anchor`, the button that opened it). `onPick(emoji)`
 * receives a valid emoji; the picker closes on a pick, on Escape (focus back to `anchor`) and on a
 * click outside it. Returns a function that closes it.
 */
export function openEmojiPicker({ anchor, onPick, label = "Pick an emoji to react with" }) {
  const id = `emoji-picker-${++pickers}`;
  const box = document.createElement("div");
  box.className = "emoji-picker";
  box.setAttribute("role", "dialog");
  box.setAttribute("aria-label", label);

  const grid = document.createElement("div");
  grid.className = "emoji-grid";
  grid.setAttribute("role", "group");
  grid.setAttribute("aria-label", "Common emoji (arrow keys move)");
  const buttons = COMMON_EMOJI.map((emoji, index) => {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = emoji;
    button.tabIndex = index === 0 ? 0 : -1;
    button.addEventListener("click", () => pick(emoji));
    grid.append(button);
    return button;
  });
  grid.addEventListener("keydown", (event) => {
    const at = buttons.indexOf(document.activeElement);
    if (at < 0) return;
    const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: COLUMNS, ArrowUp: -COLUMNS }[event.key];
    let to = step === undefined ? null : at + step;
    if (event.key === "Home") to = 0;
    if (event.key === "End") to = buttons.length - 1;
    if (to === null || to < 0 || to >= buttons.length) return;
    event.preventDefault();
    buttons[at].tabIndex = -1;
    buttons[to].tabIndex = 0;
    buttons[to].focus();
  });

  const form = document.createElement("form");
  form.className = "emoji-other";
  const field = document.createElement("input");
  field.id = `${id}-field`;
  field.type = "text";
  field.autocomplete = "off";
  field.setAttribute("aria-describedby", `${id}-error`);
  const fieldLabel = document.createElement("label");
  fieldLabel.htmlFor = field.id;
  fieldLabel.textContent = "Any emoji";
  const add = document.createElement("button");
  add.type = "submit";
  add.textContent = "Add";
  const error = document.createElement("p");
  error.id = `${id}-error`;
  error.className = "emoji-error";
  error.setAttribute("aria-live", "polite");
  form.append(fieldLabel, field, add, error);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = field.value.trim();
    if (isOneEmoji(value)) pick(value);
    else {
      error.textContent = "Type one emoji (text and several emoji are not reactions).";
      field.setAttribute("aria-invalid", "true");
      field.focus();
    }
  });

  box.append(grid, form);

  const outside = (event) => {
    if (!box.contains(event.target) && event.target !== anchor) close();
  };
  function close({ restoreFocus = false } = {}) {
    if (!box.isConnected) return;
    document.removeEventListener("pointerdown", outside, true);
    const hadFocus = box.contains(document.activeElement);
    box.remove();
    if (restoreFocus || hadFocus) anchor.focus();
  }
  function pick(emoji) {
    close({ restoreFocus: true });
    onPick(emoji);
  }
  box.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation(); // not the message list's Escape as well
      close({ restoreFocus: true });
    }
  });
  anchor.after(box);
  document.addEventListener("pointerdown", outside, true);
  buttons[0].focus();
  return close;
}
