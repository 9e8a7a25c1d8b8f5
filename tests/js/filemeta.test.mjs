// File sizes, kinds, thumbnail boxes and upload errors in words (static/chat/filemeta.js).
import assert from "node:assert/strict";
import { test } from "node:test";

import { fileKind, humanSize, showsThumb, thumbBox, typeLabel, uploadErrorText } from "../../static/chat/filemeta.js";

test("sizes read as people say them, 1024-based, never 1024 of a unit", () => {
  assert.equal(humanSize(0), "0 bytes");
  assert.equal(humanSize(1), "1 byte");
  assert.equal(humanSize(1023), "1023 bytes");
  assert.equal(humanSize(1024), "1 KB");
  assert.equal(humanSize(1536), "1.5 KB");
  assert.equal(humanSize(14 * 1024 + 300), "14 KB");
  assert.equal(humanSize(2.44 * 1024 * 1024), "2.4 MB");
  assert.equal(humanSize(25 * 1024 * 1024), "25 MB");
  assert.equal(humanSize(1024 * 1024 - 1), "1 MB");
  assert.equal(humanSize(3 * 1024 ** 3), "3 GB");
  assert.equal(humanSize(-1), "");
  assert.equal(humanSize("x"), "");
});

test("a file's kind comes from its type, else from its name's extension", () => {
  assert.equal(fileKind("image/png", "a.png"), "image");
  assert.equal(fileKind("application/pdf", "a"), "pdf");
  assert.equal(fileKind("application/zip", "a.zip"), "archive");
  assert.equal(fileKind("text/plain; charset=utf-8", "a.log"), "text");
  assert.equal(fileKind("text/csv", "a.csv"), "data");
  assert.equal(fileKind("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "a"), "spreadsheet");
  assert.equal(fileKind("application/octet-stream", "report.DOCX"), "document");
  assert.equal(fileKind("", "notes"), "file");
  assert.equal(fileKind(undefined, ".hidden"), "file");
});

test("a card names the type shortly", () => {
  assert.equal(typeLabel("image/png", "a.png"), "PNG image");
  assert.equal(typeLabel("application/pdf", "a.pdf"), "PDF");
  assert.equal(typeLabel("application/zip", "a.zip"), "ZIP archive");
  assert.equal(typeLabel("application/octet-stream", "a.bin"), "File");
  assert.equal(typeLabel("text/plain", "a.txt"), "Text");
  assert.equal(typeLabel("text/csv", "a.csv"), "CSV data");
});

test("a thumbnail's box keeps the image's aspect ratio, scaled down but never up", () => {
  assert.deepEqual(thumbBox(1600, 1200), { width: 320, height: 240, known: true });
  assert.deepEqual(thumbBox(1200, 1600), { width: 180, height: 240, known: true });
  assert.deepEqual(thumbBox(4000, 100), { width: 320, height: 8, known: true });
  assert.deepEqual(thumbBox(100, 50), { width: 100, height: 50, known: true });
  assert.deepEqual(thumbBox(10000, 1), { width: 320, height: 1, known: true });
  assert.deepEqual(thumbBox(undefined, 50), { width: 320, height: 240, known: false });
  assert.deepEqual(thumbBox(0, 0, { width: 100, height: 80 }), { width: 100, height: 80, known: false });
});

test("only images the server made a thumbnail of show as thumbnails", () => {
  assert.equal(showsThumb({ type: "image/png", name: "a.png", thumb: true }), true);
  assert.equal(showsThumb({ type: "image/png", name: "a.png", thumb: false }), false);
  assert.equal(showsThumb({ type: "application/pdf", name: "a.pdf", thumb: true }), false);
  assert.equal(showsThumb(null), false);
});

test("each refusal is said in words", () => {
  assert.equal(uploadErrorText("file_too_large", { maxBytes: 25 * 1024 * 1024 }), "too large (at most 25 MB)");
  assert.equal(uploadErrorText("file_too_large"), "too large");
  assert.equal(uploadErrorText("type_not_allowed"), "type not allowed");
  assert.equal(uploadErrorText("quota_exceeded"), "daily upload limit reached");
  assert.equal(uploadErrorText("rejected", { reason: "type_mismatch" }), "rejected: its content is not what its type says");
  assert.equal(uploadErrorText("rejected", { reason: "something_new" }), "rejected: something new");
  assert.equal(uploadErrorText("upload_failed"), "upload failed");
  assert.equal(uploadErrorText("weird", { message: "boom" }), "upload failed: boom");
});

test("a file a reload interrupted, or kept too long, says what to do", () => {
  assert.equal(uploadErrorText("interrupted"), "not uploaded: the page was left before it finished. Attach it again");
  assert.equal(uploadErrorText("expired"), "kept too long: attach it again");
});
