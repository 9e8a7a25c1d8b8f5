// The rooms page, live: one socket in no room (`?lobby=1`) hears every count change of the
// viewer's private rooms and conversations (`unread` frames) and keeps their badges right. A
// room the page does not list yet (a conversation someone just opened with the viewer, a room
// they were just added to) brings the lists in again from the page itself. The "N online"
// figures are read again (GET /api/online/) every 30 s while the page is visible, on becoming
// visible and on each (re)open; a status line says whether the chat is live.

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
  onOpen: () => {
    refresh();
    onlineRefresh();
  },
  onState: statusShow,
  onSessionEnded: () => connection.stop(), // the page itself still works without the socket
});

const STATUS_TEXT = {
  connecting: "connecting…",
  live: "live",
  reconnecting: "chat offline, retrying…",
  offline: "chat offline, retrying…", // resumed when the browser is back online
};
const status = document.getElementById("lobby-status");

/** The socket's state, once per change (a live region reads each new text out). */
function statusShow(state) {
  root.dataset.live = state;
  if (!status || status.dataset.state === state) return;
  status.dataset.state = state;
  const text = STATUS_TEXT[state] ?? state;
  if (status.textContent !== text) status.textContent = text;
}

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

// -- online counts ----------------------------------------------------------------------------

const ONLINE_EVERY_MS = Number(data.onlineEveryMs) || 30_000;
const ONLINE_BATCH = 100; // the most /api/online/ answers at once (chat/lobby.py MAX_ROOMS)
let onlineTimer = null;
let onlineReading = null;

function onlineEntries() {
  return document.querySelectorAll("#rooms-page li.room[data-room] .online");
}

/** Every listed room's count as its presence lists last stored it; a room left out of the
 * answer (gone, archived) keeps what the page showed. */
function onlineRefresh() {
  onlineReading ??= (async () => {
    try {
      const names = [
        ...new Set([...onlineEntries()].map((el) => el.closest("li.room").dataset.room)),
      ];
      for (let i = 0; i < names.length; i += ONLINE_BATCH) {
        const rooms = names.slice(i, i + ONLINE_BATCH).join(",");
        const response = await fetch(`${data.onlineUrl}?rooms=${encodeURIComponent(rooms)}`, {
          credentials: "same-origin",
        });
        if (!response.ok) return;
        onlineShow((await response.json()).rooms ?? {});
      }
    } catch {
      // offline: the next tick or the next reopen reads them again
    } finally {
      onlineReading = null;
    }
  })();
  return onlineReading;
}

function onlineShow(counts) {
  for (const el of onlineEntries()) {
    const count = counts[el.closest("li.room").dataset.room];
    if (typeof count !== "number" || String(count) === el.dataset.count) continue;
    el.dataset.count = String(count);
    el.textContent = `${count} online`;
  }
}

/** Read while the page is seen, not in a background tab: each read is a request and a
 * BatchGetItem. */
function onlineSchedule() {
  clearInterval(onlineTimer);
  onlineTimer = null;
  if (document.visibilityState !== "visible") return;
  onlineTimer = setInterval(onlineRefresh, ONLINE_EVERY_MS);
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") onlineRefresh();
  onlineSchedule();
});
onlineSchedule();

connection.start();
window.addEventListener("online", () => connection.resume());
window.addEventListener("pagehide", () => connection.stop());
window.addEventListener("pageshow", (event) => {
  if (event.persisted) connection.start(); // back from the back/forward cache
});
