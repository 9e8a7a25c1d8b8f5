// A composer's attachments, as a component mounted on each composer (the room's, a thread's):
// the paperclip button (a hidden file input, several files), drag and drop onto its area (a
// drop target shows while dragging), and paste (a screenshot). Each file is a chip above the
// message box with its name, size, progress ("checking…" while the server checks it), what went
// wrong in words, and ✕ (cancels its upload). The uploads themselves are upload-queue.js's, one
// queue per scope (a room, a thread: uploads go on while another is shown); this module is
// their DOM, the message that waits for them (Enter before they are done), what a reload keeps
// of them (the page's storage). The site and S3 behind them are upload-transport.js's.

import { fileKind, humanSize, uploadErrorText } from "./filemeta.js";
import { fileIcon } from "./files.js";
import { UploadQueue } from "./upload-queue.js";

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Files a drag or a clipboard carries (not text, not links). */
function carriesFiles(transfer) {
  return Boolean(transfer) && [...(transfer.types ?? [])].includes("Files");
}

export class Attachments {
  /**
   * @param {object} options
   * @param {HTMLUListElement} options.list the chips
   * @param {HTMLButtonElement} options.button the paperclip
   * @param {HTMLInputElement} options.input the hidden file input
   * @param {HTMLTextAreaElement} options.textarea the message box (paste)
   * @param {HTMLElement} options.dropZone where files may be dropped (the room, the thread)
   * @param {HTMLElement} options.dropTarget shown over it while files are dragged
   * @param {HTMLElement} options.status a polite live region: a file ready, or refused
   * @param {HTMLElement} options.note above the box: a message waiting for its files, or files
   *   that will not go
   * @param {(scope: string) => object} options.transportFor the site's transport for a scope
   * @param {(scope: string, text: string, files: object[]) => boolean} options.send a message
   *   with its ready files (`{id, name, size, type}`) goes; false if it could not (its files stay)
   * @param {(scope: string, text: string, why: {failed: boolean, interrupted: boolean}) => void}
   *   options.giveBack a message that waited for its files will not go (one `failed`, all were
   *   removed, or the page was left while one was uploading: `interrupted`): its text back into
   *   that scope's draft
   * @param {(scope: string) => void} [options.onChange] a scope's attachments changed
   * @param {() => boolean} [options.enabled] attaching is allowed now
   * @param {Storage | null} [options.storage] where a scope's files survive a reload
   * @param {(scope: string) => string | null} [options.storageKey] a scope's key there
   * @param {object} [options.timings] upload-queue.js timings (tests)
   */
  constructor({ list, button, input, textarea, dropZone, dropTarget, status, note, transportFor, send,
    giveBack, onChange = () => {}, enabled = () => true, storage = null, storageKey = () => null,
    timings = {} }) {
    Object.assign(this, { list, button, input, textarea, dropZone, dropTarget, status, note, transportFor,
      sendMessage: send, giveBack, onChange, enabled, storage, storageKey, timings });
    // scope -> {queue, waiting: the text of a message sent before its files were ready, saved:
    // what storage holds}
    this.scopes = new Map();
    this.scope = null; // the one whose composer is shown
    this.previews = new Map(); // item key -> object URL of a local image's preview
    this.drags = 0;

    button.addEventListener("click", () => {
      if (this.enabled()) input.click();
    });
    input.addEventListener("change", () => {
      this.add([...input.files]);
      input.value = ""; // the same file again is a new attachment
      textarea.focus();
    });
    textarea.addEventListener("paste", (event) => {
      const files = [...(event.clipboardData?.files ?? [])];
      if (!files.length || !this.enabled()) return;
      // A screenshot comes with no text; a copied file from a file manager may bring its name as
      // text too, which is not what was meant to be pasted.
      event.preventDefault();
      this.add(files);
    });
    dropZone.addEventListener("dragenter", (event) => {
      if (!carriesFiles(event.dataTransfer) || !this.enabled()) return;
      this.drags += 1;
      dropTarget.hidden = false;
    });
    dropZone.addEventListener("dragleave", () => {
      this.drags = Math.max(0, this.drags - 1);
      if (this.drags === 0) dropTarget.hidden = true;
    });
    dropZone.addEventListener("dragover", (event) => {
      if (!carriesFiles(event.dataTransfer) || !this.enabled()) return;
      event.preventDefault(); // a drop target
      event.dataTransfer.dropEffect = "copy";
    });
    dropZone.addEventListener("drop", (event) => {
      this.drags = 0;
      dropTarget.hidden = true;
      if (!carriesFiles(event.dataTransfer) || !this.enabled()) return;
      event.preventDefault();
      this.add([...event.dataTransfer.files]);
      textarea.focus();
    });
    // A file dropped anywhere else on the page would replace the page with the file. (Each
    // composer's component listens: whichever comes first prevents it, each hides its target.)
    for (const type of ["dragover", "drop"]) {
      document.addEventListener(type, (event) => {
        if (!carriesFiles(event.dataTransfer)) return;
        if (!event.defaultPrevented) event.preventDefault();
        if (type === "drop") {
          this.drags = 0;
          dropTarget.hidden = true;
        }
      });
    }
  }

  scopeOf(scope) {
    let held = this.scopes.get(scope);
    if (held) return held;
    // `at`: when what storage keeps of it was first kept (ready files older than a day are gone
    // from the server).
    held = { queue: null, waiting: null, saved: null, at: null, restoring: true };
    this.scopes.set(scope, held);
    held.queue = new UploadQueue({
      transport: this.transportFor(scope),
      timings: this.timings,
      onChange: (item, change) => this.changed(scope, item, change),
    });
    // What a previous page left of this scope's files (and the message waiting for them).
    const saved = this.load(scope);
    held.queue.restore(saved?.files);
    held.waiting = typeof saved?.waiting === "string" ? saved.waiting : null;
    held.at = Number(saved?.files?.at) || null;
    held.restoring = false;
    this.settle(scope);
    this.persist(scope);
    return held;
  }

  /** The queue of a scope (made the first time it is asked for, with what storage kept). */
  queueOf(scope) {
    return this.scopeOf(scope).queue;
  }

  /** The text of a scope's message waiting for its files, or null. */
  waitingText(scope) {
    return this.scopes.get(scope)?.waiting ?? null;
  }

  /** Some scope's file is still uploading: leaving the page now would lose it. */
  get uploading() {
    return [...this.scopes.values()].some(({ queue }) => queue.uploading);
  }

  /** The scope whose composer is shown: its chips. */
  show(scope) {
    this.scope = scope;
    this.drags = 0;
    this.dropTarget.hidden = true;
    this.list.replaceChildren(...this.queueOf(scope).list().map((item) => this.chip(item, scope)));
    this.list.hidden = this.list.childElementCount === 0;
    this.showNote();
  }

  get queue() {
    return this.queueOf(this.scope);
  }

  add(files) {
    if (!files.length || !this.enabled() || this.scope === null) return;
    this.queue.add(files);
  }

  /**
   * The composer sends `text` in `scope`: "none" (no files: the text goes as any message),
   * "blocked" (a file could not be attached: nothing goes), "sent" (with its files, now),
   * "unsent" (`send` could not: text and files stay) or "waiting" (it goes once every file is
   * ready; Enter again while waiting adds to its text).
   */
  submit(scope, text) {
    const held = this.scopeOf(scope);
    const { queue } = held;
    if (queue.size === 0) return "none";
    if (queue.failed.length) return "blocked";
    if (queue.allReady && held.waiting === null) return this.go(scope, text) ? "sent" : "unsent";
    held.waiting = held.waiting ? `${held.waiting}\n${text}` : text;
    this.persist(scope);
    this.showNote();
    this.onChange(scope);
    return "waiting";
  }

  go(scope, text) {
    const { queue } = this.scopeOf(scope);
    if (!this.sendMessage(scope, text, queue.readyFiles())) return false;
    queue.sent();
    return true;
  }

  changed(scope, item, { removed = false }) {
    if (removed) {
      const url = this.previews.get(item.key);
      if (url) URL.revokeObjectURL(url);
      this.previews.delete(item.key);
    }
    if (scope === this.scope) {
      const chip = this.list.querySelector(`[data-key="${item.key}"]`);
      if (removed) chip?.remove();
      else if (chip) this.fillChip(chip, item);
      else this.list.append(this.chip(item, scope));
      this.list.hidden = this.list.childElementCount === 0;
      if (!removed && (item.state === "failed" || item.state === "ready")) {
        this.status.textContent = item.state === "ready"
          ? `${item.name} is attached`
          : `${item.name} was not attached: ${this.errorText(item)}`;
      }
    }
    const held = this.scopes.get(scope);
    if (!held || held.restoring) return; // restoring: settled and saved once it is done
    this.settle(scope);
    this.persist(scope);
    if (scope === this.scope) this.showNote();
    this.onChange(scope);
  }

  /** A waiting message goes once its files are all ready, or comes back to its draft if one
   * failed (or was interrupted by a reload) or all were removed. */
  settle(scope) {
    const held = this.scopes.get(scope);
    if (held.waiting === null) return;
    const { queue } = held;
    const text = held.waiting;
    if (queue.size > 0 && queue.allReady) {
      held.waiting = null;
      if (!this.go(scope, text)) this.giveBack(scope, text, { failed: false, interrupted: false });
    } else if (queue.failed.length || queue.size === 0) {
      held.waiting = null;
      const interrupted = queue.failed.some((item) => item.code === "interrupted");
      if (text) this.giveBack(scope, text, { failed: queue.failed.length > 0, interrupted });
    }
  }

  /** Above the box: the message waiting, files that will not go, or nothing. */
  showNote() {
    const held = this.scopes.get(this.scope);
    if (!held) return;
    const waiting = held.waiting !== null;
    const failed = held.queue.failed;
    this.note.hidden = !waiting && !failed.length;
    this.note.classList.toggle("problem", !waiting);
    if (waiting) this.note.textContent = "Your message goes as soon as its files are uploaded and checked.";
    else if (failed.some((item) => item.code === "interrupted")) {
      this.note.textContent = "Files still uploading when the page was left are lost: attach them again. "
        + "Remove them (✕) to send the rest.";
    } else {
      this.note.textContent = "Files that could not be attached are not sent: remove them (✕) to send the rest.";
    }
  }

  // -- across a reload ----------------------------------------------------------------------

  load(scope) {
    const key = this.storageKey(scope);
    if (!key || !this.storage) return null;
    try {
      return JSON.parse(this.storage.getItem(key) ?? "null");
    } catch {
      return null; // unreadable (or storage disabled): nothing kept
    }
  }

  /** What a reload keeps of a scope: its files (upload-queue.js snapshot) and the message
   * waiting for them; nothing once they are gone. Written only when that changes (not at each
   * step of progress). */
  persist(scope) {
    const key = this.storageKey(scope);
    const held = this.scopes.get(scope);
    if (!key || !this.storage || !held || held.restoring) return;
    const { at, ...files } = held.queue.snapshot();
    const empty = held.queue.size === 0 && held.waiting === null;
    const body = empty ? null : JSON.stringify({ files, waiting: held.waiting });
    if (body === held.saved) return;
    held.saved = body;
    held.at = empty ? null : held.at ?? at;
    try {
      if (empty) this.storage.removeItem(key);
      else this.storage.setItem(key, JSON.stringify({ files: { ...files, at: held.at }, waiting: held.waiting }));
    } catch {
      // Full or disabled: the files live as long as the page.
    }
  }

  errorText(item) {
    return uploadErrorText(item.code, { reason: item.reason, maxBytes: item.maxBytes, message: item.message });
  }

  chip(item, scope) {
    const chip = el("li", "chip");
    chip.dataset.key = item.key;
    const kind = fileKind(item.type, item.name);
    let visual = fileIcon(kind);
    if (kind === "image" && item.file instanceof Blob && typeof URL.createObjectURL === "function") {
      // The image itself, from the browser's memory: nothing is fetched to show it.
      const url = this.previews.get(item.key) ?? URL.createObjectURL(item.file);
      this.previews.set(item.key, url);
      visual = el("img", "chip-preview");
      visual.src = url;
      visual.alt = "";
      const icon = fileIcon(kind);
      // Not an image the browser can read (a file renamed to .png): its icon instead.
      visual.addEventListener("error", () => visual.replaceWith(icon), { once: true });
    }
    const body = el("div", "chip-body");
    const name = el("span", "chip-name", item.name);
    name.title = item.name;
    const progress = el("progress", "chip-progress");
    progress.max = 100;
    progress.setAttribute("aria-label", `Upload of ${item.name}`);
    body.append(name, el("span", "chip-status"), progress);
    const remove = el("button", "icon-button chip-remove", "✕");
    remove.type = "button";
    remove.addEventListener("click", () => {
      const next = chip.nextElementSibling ?? chip.previousElementSibling;
      this.queueOf(scope).remove(item.key);
      (next?.querySelector(".chip-remove") ?? this.textarea).focus();
    });
    chip.append(visual, body, remove);
    this.fillChip(chip, item);
    return chip;
  }

  fillChip(chip, item) {
    chip.dataset.state = item.state;
    const size = humanSize(item.size);
    const progress = chip.querySelector(".chip-progress");
    const status = chip.querySelector(".chip-status");
    const remove = chip.querySelector(".chip-remove");
    let text;
    if (item.state === "failed") text = this.errorText(item);
    else if (item.state === "requesting") text = `${size} · starting…`;
    else if (item.state === "uploading") text = `${size} · ${Math.floor(item.progress * 100)}%`;
    else if (item.state === "checking") text = `${size} · checking…`;
    else text = size;
    status.textContent = text;
    if (item.state === "uploading") progress.value = Math.floor(item.progress * 100);
    else if (item.state === "ready") progress.value = 100;
    else progress.removeAttribute("value"); // indeterminate while starting and checking
    progress.hidden = item.state === "failed" || item.state === "ready";
    const onItsWay = item.state === "requesting" || item.state === "uploading" || item.state === "checking";
    remove.setAttribute("aria-label", onItsWay ? `Cancel the upload of ${item.name}` : `Remove ${item.name}`);
    remove.title = onItsWay ? "Cancel the upload" : "Remove";
  }
}
