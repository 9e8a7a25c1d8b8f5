// The composer's attachments: the paperclip button (a hidden file input, several files), drag
// and drop onto the room (a drop target shows while dragging), and paste (a screenshot). Each
// file is a chip above the message box with its name, size, progress ("checking…" while the
// server checks it), what went wrong in words, and ✕ (cancels its upload). The uploads
// themselves are upload-queue.js's, one queue per room; this module is their DOM and the
// site's transport: the presigned POST from the site, the bytes straight to S3 by
// XMLHttpRequest (the only browser API that reports upload progress), the check polled.

import { fileKind, humanSize, uploadErrorText } from "./filemeta.js";
import { fileIcon } from "./files.js";
import { csrfToken } from "./site.js";
import { UploadError, UploadQueue } from "./upload-queue.js";

// S3's error codes (its XML answer's <Code>) that mean something to the person.
const S3_CODES = { EntityTooLarge: "file_too_large", EntityTooSmall: "empty_file" };

/** A JSON error answer of the site as an UploadError: `{"error": code, "message"}` (the site's
 * shape) or `{"error": {"code", "message"}}`. */
function siteError(body, status) {
  const error = body?.error;
  const code = typeof error === "string" ? error : error?.code;
  const message = body?.message ?? error?.message ?? "";
  const maxBytes = Number(body?.max_bytes ?? error?.max_bytes) || null;
  if (typeof code === "string" && code) return new UploadError(code, String(message), { maxBytes });
  return new UploadError("upload_failed", `the site answered ${status}`);
}

async function json(response) {
  try {
    return await response.json();
  } catch {
    return null; // not our JSON (a proxy's error page)
  }
}

/** The site and S3, as upload-queue.js's transport. `room()` names the room being written in. */
export function siteTransport({ uploadsUrl, room, csrf }) {
  return {
    async create({ name, size, type }) {
      let response;
      try {
        response = await fetch(uploadsUrl, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(csrf) },
          body: JSON.stringify({ room: room(), name, size, type }),
        });
      } catch {
        throw new UploadError("offline");
      }
      const body = await json(response);
      if (!response.ok || !body?.upload?.id) throw siteError(body, response.status);
      return body.upload;
    },

    send(upload, file, onProgress) {
      const xhr = new XMLHttpRequest();
      const done = new Promise((resolve, reject) => {
        xhr.upload.addEventListener("progress", (event) => {
          if (event.lengthComputable && event.total) onProgress(event.loaded / event.total);
        });
        xhr.addEventListener("load", () => {
          if (xhr.status >= 200 && xhr.status < 300) {
            resolve();
            return;
          }
          const code = /<Code>([^<]+)<\/Code>/.exec(xhr.responseText ?? "")?.[1] ?? "";
          reject(new UploadError(S3_CODES[code] ?? "upload_failed", code || `storage answered ${xhr.status}`));
        });
        xhr.addEventListener("error", () => reject(new UploadError("offline")));
        xhr.addEventListener("abort", () => reject(new UploadError("cancelled")));
      });
      // The policy's fields first, the file last: S3 ignores fields after the file.
      const form = new FormData();
      for (const [field, value] of Object.entries(upload.fields ?? {})) form.append(field, value);
      form.append("file", file);
      xhr.open("POST", upload.url);
      xhr.send(form);
      return { done, abort: () => xhr.abort() };
    },

    async status(id) {
      let response;
      try {
        response = await fetch(`${uploadsUrl}${encodeURIComponent(id)}/`, { credentials: "same-origin" });
      } catch {
        throw new UploadError("upload_failed", "offline"); // tried again at the next poll
      }
      const body = await json(response);
      if (!response.ok || !body?.upload) throw siteError(body, response.status);
      return body.upload;
    },
  };
}

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
   * @param {HTMLUListElement} options.list the chips (#attachments)
   * @param {HTMLButtonElement} options.button the paperclip
   * @param {HTMLInputElement} options.input the hidden file input
   * @param {HTMLTextAreaElement} options.textarea the message box (paste)
   * @param {HTMLElement} options.dropZone where files may be dropped (the room)
   * @param {HTMLElement} options.dropTarget shown over it while files are dragged
   * @param {HTMLElement} options.status a polite live region: a file ready, or refused
   * @param {(room: string) => object} options.transportFor the site's transport for a room
   * @param {(room: string) => void} options.onChange a room's attachments changed
   * @param {() => boolean} [options.enabled] attaching is allowed now
   * @param {object} [options.timings] upload-queue.js timings (tests)
   */
  constructor({ list, button, input, textarea, dropZone, dropTarget, status, transportFor, onChange,
    enabled = () => true, timings = {} }) {
    Object.assign(this, { list, button, input, textarea, dropZone, dropTarget, status, transportFor,
      onChange, enabled, timings });
    this.queues = new Map(); // room -> UploadQueue: a room's uploads go on while another is shown
    this.room = null;
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
    // A file dropped anywhere else on the page would replace the page with the file.
    for (const type of ["dragover", "drop"]) {
      document.addEventListener(type, (event) => {
        if (carriesFiles(event.dataTransfer) && !event.defaultPrevented) {
          event.preventDefault();
          if (type === "drop") {
            this.drags = 0;
            dropTarget.hidden = true;
          }
        }
      });
    }
  }

  /** The queue of a room (made the first time it is asked for). */
  queueOf(room) {
    let queue = this.queues.get(room);
    if (!queue) {
      queue = new UploadQueue({
        transport: this.transportFor(room),
        timings: this.timings,
        onChange: (item, change) => this.changed(room, item, change),
      });
      this.queues.set(room, queue);
    }
    return queue;
  }

  /** The room whose composer is shown: its chips. */
  show(room) {
    this.room = room;
    this.drags = 0;
    this.dropTarget.hidden = true;
    this.list.replaceChildren(...this.queueOf(room).list().map((item) => this.chip(item)));
    this.list.hidden = this.list.childElementCount === 0;
  }

  get queue() {
    return this.queueOf(this.room);
  }

  add(files) {
    if (!files.length || !this.enabled()) return;
    this.queue.add(files);
  }

  changed(room, item, { removed = false }) {
    if (removed) {
      const url = this.previews.get(item.key);
      if (url) URL.revokeObjectURL(url);
      this.previews.delete(item.key);
    }
    if (room === this.room) {
      const chip = this.list.querySelector(`[data-key="${item.key}"]`);
      if (removed) chip?.remove();
      else if (chip) this.fillChip(chip, item);
      else this.list.append(this.chip(item));
      this.list.hidden = this.list.childElementCount === 0;
      if (!removed && (item.state === "failed" || item.state === "ready")) {
        this.status.textContent = item.state === "ready"
          ? `${item.name} is attached`
          : `${item.name} was not attached: ${this.errorText(item)}`;
      }
    }
    this.onChange(room);
  }

  errorText(item) {
    return uploadErrorText(item.code, { reason: item.reason, maxBytes: item.maxBytes, message: item.message });
  }

  chip(item) {
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
      this.queueOf(chip.dataset.room ?? this.room).remove(item.key);
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
