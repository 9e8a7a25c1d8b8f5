// What the site's live pages share: the CSRF token and the WebSocket token request.

import { SessionEnded } from "./connection.js";

/** The CSRF token: the cookie first (logging in from another tab rotates it, leaving the
 * page's own copy stale), else the one the page was rendered with. */
export function csrfToken(fallback) {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : fallback;
}

/** A token for one WebSocket attempt; SessionEnded once the login is gone. */
export async function fetchToken(tokenUrl, fallbackCsrf) {
  const response = await fetch(tokenUrl, {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-CSRFToken": csrfToken(fallbackCsrf) },
  });
  if (response.status === 401 || response.status === 403) {
    let code;
    try {
      code = (await response.json()).error;
    } catch {
      code = undefined; // not our JSON (a proxy's page): the session is over all the same
    }
    throw new SessionEnded(typeof code === "string" ? code : undefined);
  }
  if (!response.ok) throw new Error(`token request failed with ${response.status}`);
  return response.json();
}

/** `{room: {unread, mentions}}` as stored now (GET /api/unread/), or null if unreachable:
 * `unread` frames sent while a page was away (a reconnect, a hidden tab) never arrive. */
export async function fetchUnread(unreadUrl) {
  try {
    const response = await fetch(unreadUrl, { credentials: "same-origin" });
    if (!response.ok) return null;
    return (await response.json()).rooms ?? {};
  } catch {
    return null; // offline: the next reconnect tries again
  }
}
