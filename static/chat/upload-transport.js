// The uploads' transport (upload-queue.js's `transport`): the presigned POST asked of the site,
// the bytes sent straight to S3 by XMLHttpRequest (the only browser API that reports upload
// progress), the server's check polled; their refusals as UploadErrors with the site's codes.

import { csrfToken } from "./site.js";
import { UploadError } from "./upload-queue.js";

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
