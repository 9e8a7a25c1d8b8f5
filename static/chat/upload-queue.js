// The files attached to the message being written: each one's upload, from asking the site for
// a presigned POST, through sending the bytes straight to S3, to the server's check of the
// content (polled). No DOM: the transport (fetch, XMLHttpRequest) and the timers are passed in,
// so `node --test` drives it (tests/js/upload-queue.test.mjs); uploads.js shows it as chips.
//
// A file is `requesting` (asking for the presigned POST), `uploading` (progress 0..1),
// `checking` (uploaded; the server checks it and makes its thumbnail), `ready` (its id may go in
// a message), or `failed` with a code (`file_too_large`, `type_not_allowed`, `quota_exceeded`,
// `rejected` with the server's reason, `upload_failed`…). Removing a file aborts its upload and
// stops polling: nothing of it is sent.
//
// What survives a reload (snapshot/restore, kept in the page's storage by uploads.js): a file
// `ready` (its id is all a message needs) and one `checking` (its bytes are in S3: the check is
// polled again). One still `requesting` or `uploading` cannot: its bytes were in the page. It
// comes back `failed` with `interrupted`, so the person sees it has to be attached again.

export const DEFAULT_UPLOAD_TIMINGS = {
  pollFirstMs: 250, // the first check, soon: small images are checked in well under a second
  pollFactor: 1.6,
  pollMaxMs: 2000,
  checkTimeoutMs: 90_000, // checking this long: given up (the server expires it by itself)
  // A draft's ready files kept longer than this (a tab left closed overnight) are not offered
  // again: the server forgets an upload no message took after a day.
  keptMaxMs: 12 * 60 * 60_000,
};

const SNAPSHOT_VERSION = 1;

/** A refusal with the site's code (an error answer), or of our own (`upload_failed`). */
export class UploadError extends Error {
  constructor(code, message = "", { maxBytes = null } = {}) {
    super(message || code);
    this.code = code;
    this.maxBytes = maxBytes;
  }
}

export class UploadQueue {
  /**
   * @param {object} options
   * @param {object} options.transport
   * @param {(file: {name, size, type}) => Promise<{id, url, fields, max_bytes?}>} options.transport.create
   *   asks for a presigned POST; throws UploadError with the site's code
   * @param {(upload: object, file: Blob, onProgress: (fraction: number) => void) =>
   *   {done: Promise<void>, abort: () => void}} options.transport.send the bytes to S3
   * @param {(id: string) => Promise<{state: string, reason?: string}>} options.transport.status
   * @param {(item: object, change: {removed?: boolean}) => void} [options.onChange]
   * @param {{setTimeout: Function, clearTimeout: Function}} [options.timers]
   * @param {() => number} [options.now]
   * @param {object} [options.timings] overrides of DEFAULT_UPLOAD_TIMINGS
   */
  constructor({ transport, onChange = () => {}, timers = globalThis, now = () => Date.now(), timings = {} }) {
    this.transport = transport;
    this.onChange = onChange;
    this.timers = timers;
    this.now = now;
    this.timings = { ...DEFAULT_UPLOAD_TIMINGS, ...timings };
    this.items = new Map(); // key -> item, in the order attached
    this.serial = 0;
  }

  /** Every file attached, in order. */
  list() {
    return [...this.items.values()];
  }

  get size() {
    return this.items.size;
  }

  /** No file attached, or every one ready: a message may go with them. */
  get allReady() {
    return this.list().every((item) => item.state === "ready");
  }

  /** Some file is still on its way (not ready, not failed). */
  get busy() {
    return this.list().some((item) => !["ready", "failed"].includes(item.state));
  }

  /** Some file's bytes are still in the page (asking for its POST, or sending it): leaving the
   * page now loses it. A file being checked is not: its check is polled again after a reload. */
  get uploading() {
    return this.list().some((item) => item.state === "requesting" || item.state === "uploading");
  }

  get failed() {
    return this.list().filter((item) => item.state === "failed");
  }

  /** What a message's frame carries: the ready files' ids, in the order attached. */
  readyIds() {
    return this.list().filter((item) => item.state === "ready").map((item) => item.id);
  }

  /** What a message shows of its files before the server's copy comes back. */
  readyFiles() {
    return this.list().filter((item) => item.state === "ready").map((item) => ({
      id: item.id, name: item.name, size: item.size, type: item.type, thumb: false,
    }));
  }

  /** Attach files (a Blob or File each; a pasted one may have no name): each starts uploading. */
  add(files) {
    const added = [];
    for (const file of files) {
      const item = this.item(file);
      item.file = file;
      this.items.set(item.key, item);
      added.push(item);
      this.onChange(item, {});
      this.start(item);
    }
    return added;
  }

  /** A new item for a file (a Blob or File, or a snapshot's entry), requesting. */
  item(file) {
    const key = `u${++this.serial}`;
    return {
      key,
      file: null, // the bytes, while the page has them (a restored file has none)
      name: String(file.name || defaultName(file.type, this.serial)),
      size: Number(file.size) || 0,
      type: String(file.type || "application/octet-stream"),
      state: "requesting",
      progress: 0,
      id: null,
      code: null,
      reason: null,
      message: null,
      maxBytes: null,
      abort: null,
      pollTimer: null,
      pollWait: 0,
      checkingSince: null,
    };
  }

  /** Take a file out (its ✕): its upload is aborted, its polling stopped; nothing of it is sent. */
  remove(key) {
    const item = this.items.get(key);
    if (!item) return null;
    this.stop(item);
    this.items.delete(key);
    this.onChange(item, { removed: true });
    return item;
  }

  /** Every file taken out (the message went, or the room was left). */
  clear() {
    for (const key of [...this.items.keys()]) this.remove(key);
  }

  /** The message went with the ready files: they leave the queue without being aborted. */
  sent() {
    for (const item of this.list()) {
      if (item.state === "ready") {
        this.items.delete(item.key);
        this.onChange(item, { removed: true });
      }
    }
  }

  // -- across a reload ------------------------------------------------------------------------

  /** What a reload may keep of the files, in order (JSON-safe; no progress, so a change of
   * progress alone leaves it equal): ready and checking files by their upload ids, the others
   * by name, failed, those on their way as `interrupted`. */
  snapshot() {
    return {
      v: SNAPSHOT_VERSION,
      at: this.now(),
      files: this.list().map((item) => {
        const kept = { name: item.name, size: item.size, type: item.type };
        if (item.state === "ready" || item.state === "checking") {
          return { ...kept, id: item.id, state: item.state };
        }
        if (item.state === "failed") {
          return { ...kept, state: "failed", code: item.code, reason: item.reason, message: item.message,
            maxBytes: item.maxBytes };
        }
        return { ...kept, state: "failed", code: "interrupted" }; // its bytes go with the page
      }),
    };
  }

  /** A snapshot's files back in the queue (after the ones it holds): ready ones ready, checking
   * ones checked again, the rest failed as they were. Too old: each comes back `expired`. */
  restore(saved) {
    if (saved?.v !== SNAPSHOT_VERSION || !Array.isArray(saved.files)) return [];
    const old = !(this.now() - Number(saved.at) <= this.timings.keptMaxMs);
    const restored = [];
    for (const file of saved.files) {
      if (typeof file?.name !== "string") continue;
      const item = this.item(file);
      const id = typeof file.id === "string" && file.id ? file.id : null;
      if (old && file.state !== "failed") Object.assign(item, { state: "failed", code: "expired" });
      else if ((file.state === "ready" || file.state === "checking") && id) {
        Object.assign(item, { state: file.state, id, progress: 1 });
      } else {
        Object.assign(item, {
          state: "failed",
          code: String(file.code || "interrupted"),
          reason: file.reason ?? null,
          message: file.message ?? null,
          maxBytes: Number(file.maxBytes) || null,
        });
      }
      this.items.set(item.key, item);
      restored.push(item);
      this.onChange(item, {});
      if (item.state === "checking") {
        item.checkingSince = this.now();
        item.pollWait = this.timings.pollFirstMs;
        this.schedulePoll(item);
      }
    }
    return restored;
  }

  // -- one file's way ------------------------------------------------------------------------

  async start(item) {
    let upload;
    try {
      upload = await this.transport.create({ name: item.name, size: item.size, type: item.type });
    } catch (error) {
      this.fail(item, error);
      return;
    }
    if (!this.alive(item)) return; // removed while asking
    item.id = String(upload.id);
    item.maxBytes = Number(upload.max_bytes) || null;
    this.set(item, { state: "uploading", progress: 0 });
    let sending;
    try {
      sending = this.transport.send(upload, item.file, (fraction) => {
        if (!this.alive(item) || item.state !== "uploading") return;
        const progress = Math.max(item.progress, Math.min(1, Number(fraction) || 0));
        if (progress !== item.progress) this.set(item, { progress });
      });
      item.abort = sending.abort;
      await sending.done;
    } catch (error) {
      item.abort = null;
      if (this.alive(item)) this.fail(item, error);
      return;
    }
    item.abort = null;
    if (!this.alive(item)) return;
    this.set(item, { state: "checking", progress: 1 });
    item.checkingSince = this.now();
    item.pollWait = this.timings.pollFirstMs;
    this.schedulePoll(item);
  }

  schedulePoll(item) {
    item.pollTimer = this.timers.setTimeout(() => this.poll(item), item.pollWait);
    item.pollWait = Math.min(this.timings.pollMaxMs, item.pollWait * this.timings.pollFactor);
  }

  async poll(item) {
    item.pollTimer = null;
    if (!this.alive(item)) return;
    let status;
    try {
      status = await this.transport.status(item.id);
    } catch (error) {
      if (!this.alive(item)) return;
      // A refusal with a code is final; a network blip is tried again with the next poll.
      if (error instanceof UploadError && error.code !== "upload_failed" && error.code !== "rate_limited") {
        this.fail(item, error);
        return;
      }
      status = { state: "pending" };
    }
    if (!this.alive(item)) return;
    if (status.state === "ready") {
      this.set(item, { state: "ready" });
    } else if (status.state === "rejected") {
      this.set(item, { state: "failed", code: "rejected", reason: String(status.reason ?? "") });
    } else if (this.now() - item.checkingSince >= this.timings.checkTimeoutMs) {
      this.set(item, { state: "failed", code: "check_timeout" });
    } else {
      this.schedulePoll(item);
    }
  }

  fail(item, error) {
    const code = error instanceof UploadError ? error.code : "upload_failed";
    const maxBytes = error?.maxBytes ?? item.maxBytes;
    this.set(item, { state: "failed", code, message: String(error?.message ?? ""), maxBytes });
  }

  stop(item) {
    if (item.pollTimer !== null) this.timers.clearTimeout(item.pollTimer);
    item.pollTimer = null;
    const abort = item.abort;
    item.abort = null;
    if (abort) abort();
  }

  alive(item) {
    return this.items.get(item.key) === item;
  }

  set(item, changes) {
    Object.assign(item, changes);
    this.onChange(item, {});
  }
}

/** A pasted screenshot has no name: "pasted-image-1.png". */
function defaultName(type, n) {
  const sub = String(type ?? "").split("/")[1]?.split(/[;+]/)[0] ?? "";
  const extension = /^[a-z0-9]{2,5}$/.test(sub) ? `.${sub === "jpeg" ? "jpg" : sub}` : "";
  return `pasted-${String(type).startsWith("image/") ? "image" : "file"}-${n}${extension}`;
}
