// The chat page: wires the connection (connection.js) to the message list (render.js), history
// paging (history.js), the people panel (people.js), the outbox (outbox.js) and the composer.
// What must survive a reconnect lives here or there: the messages held, the sends not yet
// echoed (the outbox, which also survives a reload), and where history paging stands.

import { unreadShow } from "./badges.js";
import { ChangeLog } from "./changes.js";
import { Connection, timingsFrom } from "./connection.js";
import { HistoryPager } from "./history.js";
import { Presence, TypingIndicator } from "./people.js";
import { MentionCompleter } from "./mentions.js";
import { Notifier } from "./notify.js";
import { Outbox } from "./outbox.js";
import { MENTION_RE, MessageList } from "./render.js";
import { fetchToken, fetchUnread } from "./site.js";

const TYPING_EVERY_MS = 3000; // at most one `typing` frame per this interval
const NEAR_TOP_PX = 200; // scrolled this close to the top: fetch the older page
const NEAR_BOTTOM_PX = 80; // this close to the bottom counts as "reading the newest"
const NOTICE_MS = 8000;

const root = document.getElementById("chat");
const data = root.dataset;
const room = data.room;
const viewer = { userId: data.userId ?? "", username: data.username, staff: data.staff === "true" };
const maxChars = Number(data.maxChars) || 4000;
const statusEl = document.getElementById("status");
const noticeEl = document.getElementById("notice");
const list = document.getElementById("messages");
const composer = document.getElementById("composer");
const input = document.getElementById("message-input");
const sendButton = document.getElementById("send");
const counter = document.getElementById("char-count");

let lastTypingSent = 0;
let noticeTimer = null;
let ended = false; // session over or room gone: nothing more to do on this page

const messages = new MessageList(list, viewer, {
  edit: editMessage,
  remove: deleteMessage,
  react: reactMessage,
});
const presence = new Presence(document.getElementById("presence"), viewer);
const typing = new TypingIndicator(document.getElementById("typing"), viewer);
const connection = new Connection({
  fetchToken: () => fetchToken(data.tokenUrl, data.csrfToken),
  room,
  timings: timingsFrom(data),
  onFrame: handleFrame,
  onOpen: opened,
  onState: setStatus,
  onSessionEnded: sessionEnded,
  onRefused: roomCheck,
});
const storage = localStore();
// One user's unsent messages and draft in one room: another account in the same browser never
// sends them.
const storageKey = `dynamowave.${viewer.userId}.${room}`;
const draftKey = `${storageKey}.draft`;
const outbox = new Outbox({
  send: (frame) => connection.send(frame),
  onChange: showSend,
  storage,
  key: `${storageKey}.outbox`,
});
const pager = new HistoryPager((frame) => connection.send(frame), messages);
const changes = new ChangeLog((frame) => connection.send(frame));
const notifier = new Notifier(document.getElementById("notify-toggle"));
const isDirect = data.direct === "true";
const memberNames = JSON.parse(document.getElementById("member-names")?.textContent || "[]");
const completer = new MentionCompleter(
  input,
  document.getElementById("mention-suggestions"),
  memberNames.filter((name) => name !== viewer.username),
);

// -- page state -------------------------------------------------------------------------------

const STATUS_TEXT = {
  connecting: "connecting…",
  live: "live",
  reconnecting: "reconnecting…",
  offline: "offline",
};

function setStatus(state, detail = {}) {
  if (state !== "live" && outbox.live) outbox.closed(); // unsent messages wait, and say so
  statusEl.dataset.state = state;
  statusEl.textContent = state === "reconnecting" && detail.seconds > 0
    ? `reconnecting in ${detail.seconds}s…`
    : STATUS_TEXT[state];
  updateComposer();
}

function showNotice(text, { sticky = false, link = null } = {}) {
  clearTimeout(noticeTimer);
  noticeEl.replaceChildren(document.createTextNode(text));
  if (link) {
    const anchor = document.createElement("a");
    anchor.href = link.href;
    anchor.textContent = link.text;
    noticeEl.append(" ", anchor);
  }
  noticeEl.hidden = false;
  if (!sticky) noticeTimer = setTimeout(() => { noticeEl.hidden = true; }, NOTICE_MS);
}

function sessionEnded(code) {
  ended = true;
  outbox.closed();
  updateComposer();
  if (code === "account_suspended") {
    showNotice("Your account is suspended. Ask an administrator if you think this is a mistake.", {
      sticky: true,
    });
    return;
  }
  showNotice("Your session has ended.", {
    sticky: true,
    link: { href: data.loginUrl, text: "Log in again" },
  });
}

function roomGone(text) {
  ended = true;
  connection.stop();
  setStatus("offline");
  showNotice(text, { sticky: true, link: { href: data.roomsUrl, text: "All rooms" } });
}

async function roomCheck() {
  // A refused handshake may mean the room was archived (or removed) while the page was open:
  // the page's own status says so (410, 404), which the WebSocket API cannot tell the browser.
  let response;
  try {
    response = await fetch(window.location.pathname, { method: "HEAD" });
  } catch {
    return; // offline or the site is down: the retries go on
  }
  if (response.status === 410) roomGone("This room is archived.");
  else if (response.status === 404) roomGone("This room does not exist.");
  else if (response.status === 403) roomGone("This room is private: you are not a member.");
}

// -- the connection's events -------------------------------------------------------------------

/** The switcher's counts as stored now: `unread` frames sent while the page was away (a
 * reconnect, a hidden tab) never arrive. */
async function refreshUnread() {
  if (!document.getElementById("switcher")) return;
  const counts = await fetchUnread(data.unreadUrl);
  for (const [name, entry] of Object.entries(counts ?? {})) {
    showUnread({ room: name, unread: entry.unread, mentions: entry.mentions, quiet: true });
  }
}

function opened() {
  refreshUnread();
  typing.clear(); // their messages may come back through history, which would not clear them
  connection.send({ action: "presence" });
  pager.opened({ catchUp: !changes.opened() }); // edits and deletions missed come back too
  // Sends not echoed yet go again with the same clientMessageId: the server stores each once
  // and answers a repeat with the stored message.
  outbox.opened();
}

function handleFrame(frame, { current = true } = {}) {
  if (frame.type === "unread") {
    showUnread(frame); // about the user's other rooms (this room's own counts are not shown)
    return;
  }
  if (frame.room !== undefined && frame.room !== room) return;
  switch (frame.type) {
    case "message":
      if (!validMessage(frame)) return;
      typing.stopped(frame.user);
      announce(frame);
      changeMessages(() => receiveMessage(frame), { own: outbox.has(frame.client_message_id) });
      changed(frame.rev);
      markRead();
      notifyOf(frame);
      break;
    case "history":
      if (!Array.isArray(frame.messages)) return;
      if (frame.since !== undefined) changesArrived(frame);
      else historyArrived(frame);
      break;
    case "message_updated":
      // A whole message: no `reactions` means none are left.
      if (validMessage(frame)) changeMessages(() => messages.update({ reactions: [], ...frame }));
      changed(frame.rev);
      break;
    case "message_deleted":
      if (typeof frame.id === "string") {
        const deletion = { id: frame.id, deleted: true, text: "", rev: frame.rev };
        changeMessages(() => messages.update(deletion));
      }
      changed(frame.rev);
      break;
    case "pong":
      changes.pong(frame.rev);
      break;
    case "presence":
      if (Array.isArray(frame.users)) presence.show(frame.users);
      break;
    case "typing":
      typing.started(frame.user);
      break;
    case "error":
      serverError(frame, current);
      break;
    default: // info: nothing to show
  }
}

const announcer = document.getElementById("announcer");

/** Read a new message from someone else out (the list itself is not a live region: loading
 * history or a repair would be read aloud). */
function announce(message) {
  if (!announcer || messages.has(message.id) || messages.isOwn(message)) return;
  const author = String(message.user?.username ?? "someone");
  announcer.textContent = `${author}: ${String(message.text ?? "")}`;
}

function validMessage(message) {
  return typeof message?.id === "string" && message.id !== "" && typeof message.user === "object";
}

/** What changed since the change log's position: each message as it is now. One older than
 * every message held is not inserted (it is not on the page yet: paging up brings it). */
function changesArrived(frame) {
  const page = frame.messages.filter(validMessage);
  const oldest = messages.oldestId;
  changeMessages(() => {
    for (const message of page) {
      if (messages.has(message.id)) messages.update({ reactions: [], ...message });
      else if (oldest === null || message.id > oldest || !pager.hasOlder) receiveMessage(message);
    }
    showNewMessagesLine();
  });
  for (const message of page) changes.note(message.rev);
  changes.answered(frame);
  markRead();
}

// A lost last change is found by a ping's answer: one a second after each change heard, then
// after twice as long, and so on up to the keep-alive's interval.
const SYNC_FIRST_MS = 1000;
let syncTimer = null;

function changed(rev) {
  changes.note(rev);
  clearTimeout(syncTimer);
  syncAfter(SYNC_FIRST_MS);
}

function syncAfter(wait) {
  syncTimer = setTimeout(() => {
    connection.ping();
    if (wait * 2 < connection.timings.pingIntervalMs) syncAfter(wait * 2);
  }, wait);
}

function receiveMessage(message) {
  const clientId = message.client_message_id;
  if (typeof clientId === "string" && messages.isOwn(message)) {
    outbox.acknowledged(clientId); // delivered (also when it comes back through history)
    messages.settle(clientId);
  }
  messages.upsert(message);
}

// Frames the page sends by itself: a refusal of one (another tab used the user's typing budget)
// is nobody's business; the next one will do.
const BACKGROUND_ACTIONS = new Set(["typing", "presence", "ping", "markread"]);

function serverError(frame, current) {
  const code = String(frame.code ?? "");
  const clientId = frame.client_message_id;
  if (typeof clientId === "string" && outbox.has(clientId)) {
    const retryAfter = Number(frame.retry_after);
    outbox.refused(clientId, { code, message: String(frame.message ?? ""), retryAfter });
    if (code === "not_connected" && current) connection.replace();
    return;
  }
  if (code === "rate_limited" && BACKGROUND_ACTIONS.has(frame.action)) return;
  if (code === "room_archived") roomGone("This room is archived.");
  else if (code === "room_not_found") roomGone("This room does not exist.");
  else if (code === "not_a_member") roomGone("This room is private: you are not a member.");
  else if (code === "not_connected") {
    if (current) connection.replace(); // one being replaced may say so of itself: no matter
  } else {
    showNotice(String(frame.message || code || "Something went wrong."));
  }
}

// -- history, repair and scrolling ---------------------------------------------------------------

function historyArrived(frame) {
  const page = frame.messages.filter(validMessage);
  changeMessages(() => {
    page.forEach(receiveMessage);
    showNewMessagesLine();
  });
  for (const message of page) changes.note(message.rev);
  changes.loaded(frame.rev); // the newest page: where the change log starts
  pager.answered(frame, page);
  wantOlderIfNearTop(); // also fills a first screen that is not full yet
  markRead();
}

// -- read positions and unread badges (private rooms and conversations) ------------------------

const isPrivate = data.private === "true";
const lastRead = data.lastRead || null; // where this user had read to when the page opened
let newLineShown = false;
let markedRead = lastRead;
let markTimer = null;

/** Once, on opening: a "New messages" line above the first message after the read position. */
function showNewMessagesLine() {
  if (newLineShown || !lastRead) return;
  const first = [...list.querySelectorAll("li.message[data-id]")].find(
    (item) => item.dataset.id > lastRead && item.dataset.userId !== viewer.userId,
  );
  if (!first) return;
  newLineShown = true;
  const line = document.createElement("li");
  line.className = "new-messages";
  line.textContent = "New messages";
  list.insertBefore(line, first);
}

/** Tell the server what this page has shown, while it is visible (debounced). */
function markRead() {
  if (!isPrivate || document.visibilityState !== "visible") return;
  clearTimeout(markTimer);
  markTimer = setTimeout(() => {
    const newest = messages.newestId;
    if (!newest || (markedRead && newest <= markedRead)) return;
    if (connection.send({ action: "markread", id: newest })) markedRead = newest;
  }, 300);
}

function mentionsMe(text) {
  return [...String(text ?? "").matchAll(MENTION_RE)].some((m) => m[1] === viewer.username);
}

/** A notification (page hidden) for a message of this room naming the viewer, or of this
 * conversation. */
function notifyOf(message) {
  if (!validMessage(message) || messages.isOwn(message)) return;
  // Mentions count in private rooms (the server's rule).
  if (!isDirect && !(isPrivate && mentionsMe(message.text))) return;
  const author = String(message.user?.username ?? "someone");
  notifier.notify({
    title: isDirect ? author : `${author} mentioned you in ${notifier.baseTitle}`,
    body: String(message.text ?? ""),
    url: window.location.pathname,
    tag: `dynamowave-${room}`,
  });
}

/** A badge of the room switcher: another room's counts, as the server last said them. */
function showUnread(frame) {
  if (typeof frame.room !== "string" || frame.room === room) return;
  const entry = document.querySelector(`#switcher li[data-room="${CSS.escape(frame.room)}"]`);
  if (entry) unreadShow(entry, frame, notifier);
}

function wantOlderIfNearTop() {
  if (list.scrollTop < NEAR_TOP_PX) pager.wantOlder();
}

/**
 * Change the list while keeping what the reader sees in place: someone reading the newest
 * messages stays at the bottom; someone reading older ones keeps the message at the top of
 * their view where it was, whether messages were added above (older pages) or below.
 */
function changeMessages(change, { own = false } = {}) {
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < NEAR_BOTTOM_PX;
  const anchor = atBottom ? null : firstVisibleMessage();
  const anchorTop = anchor?.getBoundingClientRect().top;
  change();
  messages.refreshSeparators();
  if (atBottom || own) list.scrollTop = list.scrollHeight;
  else if (anchor?.isConnected) list.scrollTop += anchor.getBoundingClientRect().top - anchorTop;
}

function firstVisibleMessage() {
  const top = list.getBoundingClientRect().top;
  for (const item of list.querySelectorAll("li.message")) {
    if (item.getBoundingClientRect().bottom > top) return item;
  }
  return null;
}

// -- composing, editing, deleting --------------------------------------------------------------

function length(text) {
  return [...text].length; // code points, as the server counts (an emoji is one, not two)
}

function updateComposer() {
  const used = length(input.value);
  counter.textContent = `${used} / ${maxChars}`;
  counter.classList.toggle("over", used > maxChars);
  input.disabled = ended;
  // Not live: a message still goes in the outbox, and out when the connection is back.
  sendButton.disabled = ended || used > maxChars;
}

function send() {
  const text = input.value;
  if (ended || !text.trim()) return;
  if (length(text) > maxChars) {
    showNotice(`Messages are at most ${maxChars} characters; this one has ${length(text)}.`);
    return;
  }
  outbox.add(text); // out now, or when the socket is live, in order (showSend renders it)
  input.value = "";
  draftSave();
  // The typing timer is not reset: at most one `typing` frame per TYPING_EVERY_MS, however
  // many messages are sent (each frame is a post to every member of the room).
  updateComposer();
  input.focus();
}

// -- the outbox on the page --------------------------------------------------------------------

const WAITING_TEXT = {
  offline: "waiting for the connection…",
  reconnecting: "waiting for the connection…",
  rate_limited: "waiting: sending too fast, it goes out by itself…",
  unavailable: "waiting: the chat is briefly unavailable, retrying…",
};

function preview(text) {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > 40 ? `${flat.slice(0, 40)}…` : flat;
}

/** Render a send's state (outbox.js calls this on every change). */
function showSend(entry, { removed = false }) {
  if (removed) {
    messages.settle(entry.id);
    return;
  }
  if (!messages.pending.has(entry.id)) {
    changeMessages(() => messages.addPending(entry.id, entry.text), { own: true });
  }
  const about = `your message “${preview(entry.text)}”`;
  if (entry.state === "failed") {
    const reason = entry.message || entry.code;
    messages.pendingState(entry.id, {
      state: "failed",
      label: `not sent: ${reason}`,
      buttons: [
        { name: "retry", label: "Retry", describe: `Retry sending ${about}`,
          onClick: () => outbox.retry(entry.id) },
        { name: "edit-failed", label: "Edit", describe: `Edit ${about}`,
          onClick: () => editFailed(entry.id) },
        { name: "discard", label: "Discard", describe: `Discard ${about}`,
          onClick: () => outbox.discard(entry.id) },
      ],
    });
    if (entry.code !== "expired") showNotice(`Your message was not sent: ${reason}`);
  } else if (entry.state === "waiting") {
    messages.pendingState(entry.id, { state: "waiting", label: WAITING_TEXT[entry.reason] ?? "waiting…" });
  } else {
    messages.pendingState(entry.id, { state: "pending", label: "sending…" });
  }
}

/** A failed send back in the composer, to correct and send again (as a new message). */
function editFailed(clientMessageId) {
  const entry = outbox.discard(clientMessageId);
  if (!entry) return;
  const draft = input.value.trim();
  input.value = draft ? `${entry.text}\n${input.value}` : entry.text;
  draftSave();
  updateComposer();
  input.focus();
  input.setSelectionRange(entry.text.length, entry.text.length);
}

// -- drafts: what is typed and not sent stays with its room --------------------------------------

function localStore() {
  try {
    return window.localStorage; // null-ish or throwing when storage is disabled
  } catch {
    return null;
  }
}

function draftSave() {
  try {
    if (input.value.trim()) storage?.setItem(draftKey, input.value);
    else storage?.removeItem(draftKey);
  } catch {
    // Full or disabled: the draft lives as long as the page.
  }
}

function draftRestore() {
  try {
    const draft = storage?.getItem(draftKey);
    if (draft && !input.value) input.value = draft;
  } catch {
    // as in draftSave()
  }
}

function typed() {
  draftSave();
  updateComposer();
  const now = Date.now();
  if (!input.value.trim() || now - lastTypingSent < TYPING_EVERY_MS) return;
  if (connection.send({ action: "typing" })) lastTypingSent = now;
}

function editMessage(id, text) {
  if (length(text) > maxChars) {
    showNotice(`Messages are at most ${maxChars} characters; this one has ${length(text)}.`);
    return false;
  }
  if (!connection.send({ action: "editmessage", id, message: text })) {
    showNotice("Not connected: the edit was not saved. Try again when live.");
    return false;
  }
  return true;
}

function reactMessage(id, emoji, remove) {
  if (!connection.send({ action: "react", id, emoji, remove })) {
    showNotice("Not connected: the reaction was not saved. Try again when live.");
  }
}

function deleteMessage(id) {
  if (!window.confirm("Delete this message?")) return;
  if (!connection.send({ action: "deletemessage", id })) {
    showNotice("Not connected: the message was not deleted. Try again when live.");
  }
}

composer.addEventListener("submit", (event) => {
  event.preventDefault();
  send();
});

input.addEventListener("keydown", (event) => {
  if (!event.isComposing && completer.key(event)) return; // picking a name to mention
  // isComposing: Enter that confirms an IME composition (Japanese, Chinese…) is not "send".
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    send();
  }
});

input.addEventListener("input", typed);
list.addEventListener("scroll", wantOlderIfNearTop, { passive: true });

// -- page lifecycle -------------------------------------------------------------------------------

window.addEventListener("online", () => connection.resume());
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") {
    connection.resume(); // skip a long backoff wait
    markRead();
  }
});

window.addEventListener("pagehide", () => {
  connection.stop(); // leaving the page closes the socket; that close must not schedule a retry
});

window.addEventListener("pageshow", (event) => {
  // Restored from the back/forward cache: start over with a fresh token.
  if (event.persisted && !ended) connection.start();
});

draftRestore();
updateComposer();
input.focus(); // opening a room is to read and write in it
outbox.restore(); // a previous page's unsent messages: shown now, sent once live
connection.start();
