// The rooms page, live: one socket in no room (`?lobby=1`) hears every count change of the
// viewer's private rooms and conversations (`unread` frames) and keeps their badges right. A
// room the page does not list yet (a conversation someone just opened with the viewer, a room
// they were just added to) brings the lists in again from the page itself.

import { unreadShow } from "./badges.js";
import { Connection, timingsFrom } from "./connection.js";
import { Notifier } from "./notify.js";
import { fetchToken, fetchUnread } from "./site.js";

const root = document.getElementById("rooms-page");
const data = root.dataset;
const LISTS = ["direct-room-list", "private-rooms"]; // the parts of the page that are the user's
const notifier = new Notifier(); // asked for on a chat page: this one has no button
const unlisted = new Set(); // rooms the lists were reloaded for once already

const connection = new Connection({
  fetchToken: () => fetchToken(data.tokenUrl, data.csrfToken),
  room: null,
  timings: timingsFrom(data),
  onFrame: handleFrame,
  onOpen: refresh,
  onState: (state) => { root.dataset.live = state; },
  onSessionEnded: () => connection.stop(), // the page itself still works without the socket
});

function entryOf(room) {
  const selector = LISTS.map((id) => `#${id} li[data-room="${CSS.escape(room)}"]`).join(", ");
  return document.querySelector(selector);
}

function handleFrame(frame, { current = true } = {}) {
  if (frame.type === "unread" && typeof frame.room === "string") {
    const entry = entryOf(frame.room);
    if (entry) unreadShow(entry, frame, notifier);
    else if (!unlisted.has(frame.room)) {
      unlisted.add(frame.room); // not shown even after a reload (a search hides it): once
      listsReload();
    }
  } else if (frame.type === "error" && frame.code === "not_connected" && current) {
    connection.replace(); // its registration was lost: hand over to a new socket
  }
}

/** On every (re)open: the counts as stored now, and the lists again if one is new. */
async function refresh() {
  const counts = await fetchUnread(data.unreadUrl);
  if (counts === null) return;
  let unknown = false;
  for (const [room, entry] of Object.entries(counts)) {
    const listed = entryOf(room);
    if (listed) unreadShow(listed, { room, ...entry, quiet: true }, notifier);
    else if (!unlisted.has(room)) {
      unlisted.add(room);
      unknown = true;
    }
  }
  if (unknown) listsReload();
}

let reloading = null;

/** The user's lists as the site renders them now (one at a time: a burst of frames for new
 * rooms is one reload). */
function listsReload() {
  reloading ??= (async () => {
    try {
      const response = await fetch(window.location.href, { credentials: "same-origin" });
      if (!response.ok) return;
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      for (const id of LISTS) {
        const next = fresh.getElementById(id);
        if (next) document.getElementById(id)?.replaceWith(document.adoptNode(next));
      }
    } catch {
      // offline: the next reconnect reads the counts again
    } finally {
      reloading = null;
    }
  })();
}

connection.start();
window.addEventListener("online", () => connection.resume());
window.addEventListener("pagehide", () => connection.stop());
window.addEventListener("pageshow", (event) => {
  if (event.persisted) connection.start(); // back from the back/forward cache
});
