// What the page says about a file, without the DOM: its size in words, the icon of its type,
// the box a thumbnail takes before it loads, and an upload's refusal in words. Pure, so
// `node --test` checks it (tests/js/filemeta.test.mjs).

const UNITS = ["KB", "MB", "GB", "TB"];

/** "512 bytes", "1 byte", "2.4 MB", "14 KB": one decimal below 10, none above (1024-based, as
 * file managers and the server's limits count). */
export function humanSize(bytes) {
  const n = Number(bytes);
  if (!Number.isFinite(n) || n < 0) return "";
  if (n < 1024) return n === 1 ? "1 byte" : `${Math.round(n)} bytes`;
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  // 1023.96 KB would round to "1024 KB": say "1 MB" instead.
  if (Number(value.toFixed(value < 10 ? 1 : 0)) >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const text = value < 10 ? value.toFixed(1).replace(/\.0$/, "") : String(Math.round(value));
  return `${text} ${UNITS[unit]}`;
}

// Kinds of file, each with an icon on the page (files.js) and a word for screen readers.
const KIND_BY_TYPE = [
  [/^image\//, "image"],
  [/^video\//, "video"],
  [/^audio\//, "audio"],
  [/^application\/pdf$/, "pdf"],
  [/^application\/(zip|gzip|x-gzip|x-tar|x-7z-compressed|x-bzip2|x-xz)$/, "archive"],
  [/^(application\/(json|xml|javascript)|text\/(csv|tab-separated-values))$/, "data"],
  [/^text\//, "text"],
  [/(spreadsheet|excel)/, "spreadsheet"],
  [/(wordprocessing|msword|opendocument\.text|rtf)/, "document"],
  [/(presentation|powerpoint)/, "slides"],
];

const KIND_BY_EXTENSION = {
  png: "image", jpg: "image", jpeg: "image", gif: "image", webp: "image", svg: "image",
  mp4: "video", webm: "video", mov: "video",
  mp3: "audio", wav: "audio", ogg: "audio",
  pdf: "pdf",
  zip: "archive", gz: "archive", tgz: "archive", tar: "archive", "7z": "archive",
  json: "data", csv: "data", xml: "data",
  txt: "text", log: "text", md: "text",
  xlsx: "spreadsheet", xls: "spreadsheet", ods: "spreadsheet",
  docx: "document", doc: "document", odt: "document", rtf: "document",
  pptx: "slides", ppt: "slides", odp: "slides",
};

export const KIND_LABELS = {
  image: "Image",
  video: "Video",
  audio: "Audio",
  pdf: "PDF",
  archive: "Archive",
  data: "Data",
  text: "Text",
  spreadsheet: "Spreadsheet",
  document: "Document",
  slides: "Slides",
  file: "File",
};

/** The kind of a file (a key of KIND_LABELS), by its type, else its name's extension. */
export function fileKind(type, name = "") {
  const mime = String(type ?? "").toLowerCase().split(";")[0].trim();
  for (const [pattern, kind] of KIND_BY_TYPE) if (pattern.test(mime)) return kind;
  const dot = String(name).lastIndexOf(".");
  const extension = dot > 0 ? String(name).slice(dot + 1).toLowerCase() : "";
  return KIND_BY_EXTENSION[extension] ?? "file";
}

/** "PNG image", "PDF", "ZIP archive", "File": the type as a card shows it. */
export function typeLabel(type, name = "") {
  const kind = fileKind(type, name);
  const mime = String(type ?? "").toLowerCase().split(";")[0].trim();
  const sub = mime.split("/")[1] ?? "";
  const short = /^[a-z0-9]{2,5}$/.test(sub) ? sub.toUpperCase() : "";
  if (kind === "pdf") return "PDF";
  if (sub === "plain") return "Text";
  if (kind === "file" || !short) return KIND_LABELS[kind];
  return `${short} ${KIND_LABELS[kind].toLowerCase()}`;
}

/**
 * The box a thumbnail takes: the image's own width and height scaled down (never up) to fit
 * `max` ({width, height}), in whole pixels, so the message does not jump when the image loads.
 * Unknown dimensions: the whole box (the image is fitted inside it by CSS).
 */
export function thumbBox(width, height, max = { width: 320, height: 240 }) {
  const w = Number(width);
  const h = Number(height);
  if (!(w > 0 && h > 0)) return { width: max.width, height: max.height, known: false };
  const scale = Math.min(1, max.width / w, max.height / h);
  return {
    width: Math.max(1, Math.round(w * scale)),
    height: Math.max(1, Math.round(h * scale)),
    known: true,
  };
}

/** Whether a message's file shows as a thumbnail (an image the server made a thumbnail of). */
export function showsThumb(file) {
  return file?.thumb === true && fileKind(file.type, file.name) === "image";
}

// The thumbnail function's reasons for rejecting a file (lambdas/services/thumbnails.py).
const REJECTED_REASONS = {
  empty: "the file is empty",
  too_large: "the file is too large",
  size_mismatch: "the file is not the size announced",
  type_mismatch: "its content is not what its type says",
  decompression_bomb: "the image expands to far too much data",
  unreadable: "the file cannot be read",
  too_many_pixels: "the image has too many pixels",
};

/** An upload's refusal or failure, in words, for its chip ("too large (at most 25 MB)"). */
export function uploadErrorText(code, { reason = "", maxBytes = null, message = "" } = {}) {
  switch (code) {
    case "file_too_large":
      return maxBytes ? `too large (at most ${humanSize(maxBytes)})` : "too large";
    case "type_not_allowed":
      return "type not allowed";
    case "quota_exceeded":
      return "daily upload limit reached";
    case "bad_name":
      return "the file's name is not allowed";
    case "rate_limited":
      return "too many uploads: try again in a moment";
    case "not_a_member":
      return "you are not a member of this room";
    case "empty_file":
      return "the file is empty";
    case "rejected":
      return reason ? `rejected: ${REJECTED_REASONS[reason] ?? reason.replaceAll("_", " ")}` : "rejected";
    case "check_timeout":
      return "the check took too long: remove it and try again";
    case "offline":
      return "upload failed: no connection";
    case "interrupted":
      return "not uploaded: the page was left before it finished. Attach it again";
    case "expired":
      return "kept too long: attach it again";
    default:
      return message ? `upload failed: ${message}` : "upload failed";
  }
}
