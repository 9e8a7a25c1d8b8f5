// A message's files on the page: images as thumbnails (their box sized from the image's width
// and height before it loads, so the list does not jump), opening a full-size viewer (a modal
// dialog: Escape closes it, focus stays inside and goes back to the thumbnail); other files as
// a card with their icon, name, size, type and a download link. Every address is the site's
// `/api/files/<id>/?variant=…`, which redirects to a short-lived signed URL: the page never
// builds a storage address itself, and a link used later asks for a fresh one.

import { KIND_LABELS, fileKind, humanSize, showsThumb, thumbBox, typeLabel } from "./filemeta.js";

const FILES_BASE = "/api/files/";
const SVG = "http://www.w3.org/2000/svg";

// One outline per kind of file, drawn in a 24-unit box (the document outline is shared).
const ICON_MARKS = {
  image: "M8 16l3-3.5 2.5 2.5 2-2 2.5 3M9.5 10.5a1 1 0 1 0 0-.01",
  video: "M10 10.5v5l4-2.5z",
  audio: "M10 16.5a1.5 1.5 0 1 1 0-.01M11.5 16.5V10l4-1",
  pdf: "M8 12h8M8 15h8M8 18h5",
  archive: "M11 5v2h2v2h-2v2h2v2h-2",
  data: "M9 12l-1.5 2.5L9 17M15 12l1.5 2.5L15 17",
  text: "M8 12h8M8 15h8M8 18h6",
  spreadsheet: "M8 11h8v7H8zM8 14.5h8M12 11v7",
  document: "M8 12h8M8 15h8M8 18h8",
  slides: "M8 11h8v5H8zM12 16v2",
  file: "",
};

/** The address of a file's variant (`thumb` or `original`). */
export function fileUrl(id, variant) {
  return `${FILES_BASE}${encodeURIComponent(id)}/?variant=${variant}`;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A file-type icon (decorative: the card says the type in words). */
export function fileIcon(kind) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "28");
  svg.setAttribute("height", "28");
  svg.setAttribute("aria-hidden", "true");
  svg.classList.add("file-icon");
  svg.dataset.kind = kind;
  const page = document.createElementNS(SVG, "path");
  page.setAttribute("d", "M6 3h8l4 4v14H6zM14 3v4h4");
  const marks = document.createElementNS(SVG, "path");
  marks.setAttribute("d", ICON_MARKS[kind] ?? "");
  for (const path of [page, marks]) {
    path.setAttribute("fill", "none");
    path.setAttribute("stroke", "currentColor");
    path.setAttribute("stroke-width", "1.6");
    path.setAttribute("stroke-linejoin", "round");
    path.setAttribute("stroke-linecap", "round");
    svg.append(path);
  }
  return svg;
}

/** A message's files, as the server described them: only well-formed entries. */
function validFiles(files) {
  if (!Array.isArray(files)) return [];
  return files.filter((file) => typeof file?.id === "string" && file.id !== "");
}

/**
 * Fill a message's `.files` box with its files (nothing, hidden, for a message without any or
 * a deleted one). `pending`: a send on its way, whose files show as cards without links.
 */
export function fillFiles(box, message, { pending = false } = {}) {
  const files = message.deleted === true ? [] : validFiles(message.files);
  const key = JSON.stringify(files) + String(pending);
  if (box.dataset.key === key) return; // an edit or a reaction: the images stay, not reloaded
  box.dataset.key = key;
  box.replaceChildren(...files.map((file) =>
    (!pending && showsThumb(file) ? thumbnail(file) : card(file, { pending }))));
  box.hidden = files.length === 0;
}

function thumbnail(file) {
  const name = String(file.name ?? "image");
  const box = thumbBox(file.width, file.height);
  const button = el("button", "file-thumb");
  button.type = "button";
  button.setAttribute("aria-label", `Open the image ${name}`);
  button.setAttribute("aria-haspopup", "dialog");
  const img = el("img");
  img.src = fileUrl(file.id, "thumb");
  img.alt = name;
  img.width = box.width;
  img.height = box.height;
  img.loading = "lazy";
  img.decoding = "async";
  if (!box.known) img.classList.add("unknown-size");
  button.style.setProperty("--thumb-ratio", `${box.width} / ${box.height}`);
  button.append(img);
  button.addEventListener("click", () => openViewer(file, button));
  return button;
}

function card(file, { pending }) {
  const name = String(file.name ?? "file");
  const kind = fileKind(file.type, name);
  const item = el("div", "file-card");
  item.dataset.kind = kind;
  const about = el("div", "file-about");
  about.append(el("span", "file-name", name));
  const details = [humanSize(file.size), typeLabel(file.type, name)].filter(Boolean).join(" · ");
  about.append(el("span", "file-details", details));
  item.append(fileIcon(kind), about);
  if (!pending) {
    const link = el("a", "file-download", "Download");
    link.href = fileUrl(file.id, "original");
    link.download = name; // same-origin first hop; the signed URL's Content-Disposition names it
    link.setAttribute("aria-label", `Download ${name} (${details || KIND_LABELS[kind]})`);
    item.append(link);
  }
  return item;
}

// -- the viewer --------------------------------------------------------------------------------

let viewer = null;

/** The page's one viewer dialog, made the first time an image is opened. `showModal()` makes
 * the rest of the page inert (focus stays in the dialog) and Escape closes it. */
function viewerDialog() {
  if (viewer) return viewer;
  const dialog = el("dialog", "file-viewer");
  dialog.id = "file-viewer";
  dialog.setAttribute("aria-labelledby", "file-viewer-title");
  const head = el("div", "file-viewer-head");
  const title = el("h2", "file-viewer-title");
  title.id = "file-viewer-title";
  const download = el("a", "file-download", "Download");
  const close = el("button", "icon-button file-viewer-close", "✕");
  close.type = "button";
  close.setAttribute("aria-label", "Close the image");
  head.append(title, download, close);
  const figure = el("div", "file-viewer-body");
  const img = el("img");
  figure.append(img);
  dialog.append(head, figure);
  close.addEventListener("click", () => dialog.close());
  // A modal dialog makes the page behind it inert, but Tab past its last control would leave
  // for the browser's own UI: it goes round inside instead.
  dialog.addEventListener("keydown", (event) => {
    if (event.key !== "Tab") return;
    const controls = [download, close];
    const at = controls.indexOf(document.activeElement);
    const next = event.shiftKey ? (at <= 0 ? controls.length - 1 : at - 1) : (at + 1) % controls.length;
    event.preventDefault();
    controls[next].focus();
  });
  // A click on the backdrop (the dialog itself, outside its content) closes it too.
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog || event.target === figure) dialog.close();
  });
  dialog.addEventListener("close", () => {
    img.removeAttribute("src"); // the next image never shows the last one first
    const opener = viewer.opener;
    viewer.opener = null;
    if (opener?.isConnected) opener.focus();
  });
  document.body.append(dialog);
  viewer = { dialog, title, download, img, close, opener: null };
  return viewer;
}

/** Open an image full size; focus goes back to `opener` when the viewer closes. */
export function openViewer(file, opener = null) {
  const v = viewerDialog();
  const name = String(file.name ?? "image");
  v.opener = opener;
  v.title.textContent = name;
  v.img.alt = name;
  const box = thumbBox(file.width, file.height, { width: 4096, height: 4096 });
  if (box.known) {
    v.img.width = box.width;
    v.img.height = box.height;
  } else {
    v.img.removeAttribute("width");
    v.img.removeAttribute("height");
  }
  v.img.src = fileUrl(file.id, "original");
  v.download.href = fileUrl(file.id, "original");
  v.download.download = name;
  v.download.setAttribute("aria-label", `Download ${name}`);
  if (!v.dialog.open) v.dialog.showModal();
  v.close.focus();
}
