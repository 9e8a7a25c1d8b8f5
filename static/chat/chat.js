// The chat app: one page for all the user's rooms. It wires the connection (connection.js),
// which follows the room shown, to a per-room state (its own message list, history pager,
// change log, outbox, draft, scroll and read positions), the sidebar of rooms (sidebar.js), the
// quick switcher (quickswitch.js), the phone layout's panels (app-panels.js) and the composer.
// Switching rooms changes the URL (history.pushState) without loading a page: a room seen
// before shows its messages at once and is repaired through the change log, as after a
// reconnect. What must survive a reconnect lives in the room's state; sends not echoed yet and
// drafts also survive a reload (localStorage, per user and room).

import { Panels } from "./app-panels.js";
import { beginningText, roomMetaFetch, roomMetaFromPage, roomShow } from "./app-room.js";
import { ChangeLog } from "./changes.js";
import { Connection, timingsFrom } from "./connection.js";
import { HistoryPager } from "./history.js";
import { Presence, TypingIndicator } from "./people.js";
import { MentionCompleter } from "./mentions.js";
import { Notifier } from "./notify.js";
import { Outbox } from "./outbox.js";
import { QuickSwitcher } from "./quickswitch.js";
import { MENTION_RE, MessageList } from "./render.js";
import { MessageSearch, revealMessage } from "./search.js";
import { Sidebar } from "./sidebar.js";
import { placeOf } from "./thread-summary.js";
import { FollowedThreads, ThreadPanel } from "./threads.js";
import { TypingNotices } from "./typing.js";
import { fetchToken, fetchUnread } from "./site.js";
import { siteTransport } from "./upload-transport.js";
import { Attachments } from "./uploads.js";

const NEAR_TOP_PX = 200; // scrolled this close to the top: fetch the older page
const NEAR_BOTTOM_PX = 80; // this close to the bottom counts as "reading the newest"
const NOTICE_MS = 8000;
// A `markread` is an API Gateway message, a Lambda invocation and a write, per reader: one this
// soon after a room is shown, then none while reading (the keep-alive's ping carries the read
// position), and one when leaving the room or hiding the page.
const MARK_FIRST_MS = 300;
// Big rooms send no live `unread` frames: their counts are read again this often (and on
// reconnect, and when the tab is shown).
const UNREAD_REFRESH_MS = 5 * 60_000;

const root = document.getElementById("chat");
const data = root.dataset;
const viewer = { userId: data.userId ?? "", username: data.username, staff: data.staff === "true" };
const maxChars = Number(data.maxChars) || 4000;
const loginBase = String(data.loginUrl).split("?")[0];
const statusEl = document.getElementById("status");
const noticeEl = document.getElementById("notice");
const area = document.getElementById("message-area");
const newBelow = document.getElementById("new-below");
const composer = document.getElementById("composer");
const input = document.getElementById("message-input");
const sendButton = document.getElementById("send");
const counter = document.getElementById("char-count");
const announcer = document.getElementById("announcer");

let noticeTimer = null;
let ended = false; // session over or room gone: nothing more to do on this page
let unreadTimer = null;

const storage = localStore();
const presence = new Presence(document.getElementById("presence"), viewer);
const typing = new TypingIndicator(document.getElementById("typing"), viewer);
const typingNotices = new TypingNotices(); // when this page says its user is typing (typing.js)
const presenceList = document.getElementById("presence");
const notifier = new Notifier(document.getElementById("notify-toggle"), {
  // A room's address, `?thread=<id>` for a reply in a thread: that room, and the thread open.
  open: async (url) => {
    const address = new URL(url, window.location.origin);
    const name = roomFromPath(address.pathname);
    if (!name) {
      window.location.assign(url);
      return;
    }
    if (name !== current.room) await openRoom(name, { url: address.pathname });
    const thread = address.searchParams.get("thread");
    if (thread && current.room === name) openThread(thread);
  },
});
const completer = new MentionCompleter(input, document.getElementById("mention-suggestions"), []);
const panels = new Panels(
  [document.getElementById("sidebar-toggle"), document.getElementById("details-toggle")],
  document.getElementById("backdrop"),
);
const sidebar = new Sidebar(document.getElementById("switcher"), {
  notifier,
  csrf: data.csrfToken,
  open: (name, url) => openRoom(name, { url }),
  left: (name) => {
    if (name === current.room) window.location.assign(data.roomsUrl);
  },
});
const quickSwitcher = new QuickSwitcher(document.getElementById("quick-switch"), {
  rooms: () => sidebar.rooms(),
  open: (name) => openRoom(name),
});

// A draft's files are kept for this tab only (sessionStorage: a reload keeps it, another tab
// has its own): another tab of the room taking them would send them twice, or call the uploads
// this tab has on their way lost.
const tabStorage = tabStore();
const uploadsTransport = (room) => siteTransport({ uploadsUrl: data.uploadsUrl, room: () => room, csrf: data.csrfToken });
/** Where one user's things of a room are kept in the browser's storage. */
const storeKey = (room) => `dynamowave.${viewer.userId}.${room}`;

// The thread composer's files: the room composer's component (below), mounted on the thread
// panel, a scope per thread (`<room>/<thread>`).
const threadEl = document.getElementById("thread");
const threadAttachments = new Attachments({
  list: document.getElementById("thread-attachments"),
  button: document.getElementById("thread-attach"),
  input: document.getElementById("thread-file-input"),
  textarea: document.getElementById("thread-input"),
  dropZone: threadEl,
  dropTarget: document.getElementById("thread-drop-target"),
  status: document.getElementById("thread-attach-status"),
  note: document.getElementById("thread-attachments-note"),
  transportFor: (scope) => uploadsTransport(scope.slice(0, scope.indexOf("/"))),
  send: (scope, text, files) => threadPanel.sendReply(scope, text, files),
  giveBack: (scope, text, why) => threadPanel.captionBack(scope, text, why),
  enabled: () => !ended && threadPanel.open && !threadPanel.closed,
  storage: tabStorage,
  storageKey: (scope) => threadKey(scope, "files"),
});

function threadKey(scope, what) {
  const at = scope.indexOf("/");
  return `${storeKey(scope.slice(0, at))}.thread.${scope.slice(at + 1)}.${what}`;
}

const threadPanel = new ThreadPanel(threadEl, {
  viewer,
  send: (frame) => connection.room === current.room && connection.send(frame),
  actions: { edit: editMessage, remove: deleteMessage, react: reactMessage },
  roomLabel: () => current.meta.label,
  notice: (text) => showNotice(text),
  onToggle: (open) => root.classList.toggle("thread-open", open),
  room: () => current.room,
  attachments: threadAttachments,
  storage,
  draftKey: (scope) => threadKey(scope, "draft"),
  onRead: (thread) => threadRead(thread),
});

const followed = new FollowedThreads(
  document.getElementById("followed-threads"),
  document.getElementById("followed-none"),
  (id, opener) => openThread(id, opener),
);
const listAsked = new Set(); // threads whose first count asked for the list again (once each)

/** Open the thread of a message of the room shown, beside it (its parent shown at once). */
function openThread(id, opener = null) {
  panels.close({ focus: false });
  const parent = current.messages.items.get(id)?.message
    ?? followed.entries.get(id)?.parent ?? null;
  threadPanel.show(id, { parent, opener });
}

// A result opens its room at the message (a thread reply: at its parent, with its thread open).
new MessageSearch(document.getElementById("search"), document.getElementById("search-results"), {
  open: async (result) => {
    const at = encodeURIComponent(result.thread || result.message_id);
    await openRoom(result.room, { url: `${result.url}?message=${at}` }); // a page load: at it too
    if (current.room !== result.room) return; // loaded as a page instead
    const found = await revealMessage(current, result.thread || result.message_id);
    if (!found) showNotice("That message is no longer in the room.");
    else if (result.thread) openThread(result.thread);
  },
});

/** Each room opened on this page: name -> its state (see roomState). */
const rooms = new Map();
let current = null; // the room shown: the state the socket and the composer serve

const connection = new Connection({
  fetchToken: () => fetchToken(data.tokenUrl, data.csrfToken),
  room: data.room,
  timings: timingsFrom(data),
  onFrame: handleFrame,
  onOpen: opened,
  onState: setStatus,
  onSessionEnded: sessionEnded,
  onRefused: roomCheck,
  // A page reading along marks what it read on its keep-alive, not with frames of its own.
  pingFields: () => (markable(current) ? { read: current.messages.newestId } : {}),
  onPinged: ({ read }) => {
    if (read) current.markedRead = read;
  },
});

/**
 * A room's state on this page. Its list, pager, change log and outbox live as long as the page
 * (switching back shows them at once); its frames go out only while it is the room shown and
 * the socket is its room's.
 */
function roomState(meta, list) {
  const state = {
    meta,
    room: meta.room,
    list,
    newLineShown: false,
    markedRead: meta.lastRead, // what the server holds as read (as far as this page knows)
    markedSinceShown: false, // later reads ride on the keep-alive's pings
    markTimer: null,
    scrollTop: null, // where the reader was when they left the room; null: the newest
    unseen: 0, // new messages below the reader's view
  };
  state.messages = new MessageList(
    list,
    viewer,
    {
      edit: editMessage,
      remove: deleteMessage,
      react: reactMessage,
      reply: openThread,
      openThread,
    },
    { beginning: beginningText(meta) },
  );
  const send = (frame) => current === state && connection.room === state.room && connection.send(frame);
  state.pager = new HistoryPager(send, state.messages);
  state.changes = new ChangeLog(send);
  // One user's unsent messages and draft in one room: another account in the same browser
  // never sends them.
  const key = storeKey(meta.room);
  state.draftKey = `${key}.draft`;
  state.outbox = new Outbox({
    send,
    onChange: (entry, change) => showSend(state, entry, change),
    storage,
    key: `${key}.outbox`,
  });
  list.addEventListener("scroll", () => scrolled(state), { passive: true });
  rooms.set(meta.room, state);
  state.outbox.restore(); // a previous page's unsent messages: shown now, sent once live
  return state;
}

function newList(meta) {
  const list = document.createElement("ol");
  list.className = "messages";
  list.dataset.room = meta.room;
  list.hidden = true;
  list.setAttribute("aria-label", `Messages in ${meta.label}`);
  area.insertBefore(list, newBelow);
  return list;
}

// -- files attached to the message being written (uploads.js) --------------------------------------

const attachments = new Attachments({
  list: document.getElementById("attachments"),
  button: document.getElementById("attach"),
  input: document.getElementById("file-input"),
  textarea: input,
  dropZone: document.getElementById("room-main"),
  dropTarget: document.getElementById("drop-target"),
  status: document.getElementById("attach-status"),
  note: document.getElementById("attachments-note"),
  transportFor: uploadsTransport,
  // Through the room's outbox, as any message: it survives a reload from here on.
  send: (room, text, files) => {
    const state = rooms.get(room);
    if (!state) return false;
    state.outbox.add(text, { files });
    return true;
  },
  giveBack: (room, text, why) => captionBack(room, text, why),
  onChange: (room) => {
    if (room === current?.room) updateComposer();
  },
  enabled: () => !ended,
  // A draft's files (ready ones by their upload ids) and the message waiting for them survive a
  // reload beside its text (draftSave); one still uploading cannot, and says so when it is back.
  storage: tabStorage,
  storageKey: (room) => `${storeKey(room)}.files`,
});

/** A message that waited for its files will not go: its text back in its room's draft (the
 * composer, if the room is shown). */
function captionBack(room, text, { failed = false, interrupted = false } = {}) {
  if (room === current.room) {
    if (!input.value.includes(text)) input.value = input.value ? `${text}\n${input.value}` : text;
    draftSave();
    updateComposer();
    if (interrupted) {
      showNotice("Your message was not sent: a file was still uploading when the page was left. Its text is back in the box.");
    } else if (failed) showNotice("Not sent: a file could not be attached. Remove it (✕) to send the rest.");
    return;
  }
  // Another room's caption goes back to its draft, shown when that room is opened again.
  const key = `${storeKey(room)}.draft`;
  let draft = drafts.get(room) ?? "";
  try {
    draft = storage?.getItem(key) ?? draft;
  } catch {
    // as in draftSave()
  }
  const restored = draft ? `${text}\n${draft}` : text;
  drafts.set(room, restored);
  try {
    storage?.setItem(key, restored);
  } catch {
    // as in draftSave()
  }
}

// Leaving the page while a file is uploading loses it (its bytes are the page's): the browser
// asks first, as Slack's does. Files being checked, ready ones and the text are kept anyway.
window.addEventListener("beforeunload", (event) => {
  if (!attachments.uploading && !threadAttachments.uploading) return;
  event.preventDefault();
  event.returnValue = ""; // older Chromium asks only when this is set
});

// -- moving between rooms -------------------------------------------------------------------------

function roomUrl(name) {
  return `/rooms/${encodeURIComponent(name)}/`;
}

function roomFromPath(path) {
  const match = /^\/rooms\/([^/]+)\/$/.exec(path);
  return match ? decodeURIComponent(match[1]) : null;
}

let opening = null; // the room being fetched, so a second click on it waits for the first

/** Show room `name` in place: its cached state at once, or its description fetched first. A
 * room the page cannot describe (gone, private, the session over) is loaded as a page, which
 * says why. */
async function openRoom(name, { push = true, url = null } = {}) {
  panels.close({ focus: false });
  if (ended) {
    window.location.assign(url ?? roomUrl(name));
    return;
  }
  if (name === current.room) {
    input.focus();
    return;
  }
  let state = rooms.get(name);
  if (!state) {
    if (opening === name) return;
    opening = name;
    const meta = await roomMetaFetch(name);
    opening = null;
    if (!meta) {
      window.location.assign(url ?? roomUrl(name));
      return;
    }
    if (name === current.room) return; // Back/Forward moved there meanwhile
    state = rooms.get(name) ?? roomState(meta, newList(meta));
  }
  leave(current);
  if (push) history.pushState({ room: name }, "", state.meta.url);
  show(state);
}

/** The room shown is left: it is marked read as far as it was read, and keeps its place. */
function leave(state) {
  threadPanel.close(); // a thread belongs to its room
  followed.clear();
  markFlush(state);
  state.scrollTop = atBottom(state) ? null : state.list.scrollTop;
  state.outbox.closed(); // its sends wait until the room is shown (and live) again
  state.list.hidden = true;
  state.list.removeAttribute("id");
  typing.clear();
  typingNotices.reset();
  presence.show([]);
  completer.close?.();
}

function show(state) {
  current = state;
  state.markedSinceShown = false;
  const { meta } = state;
  state.list.id = "messages";
  state.list.hidden = false;
  roomShow(meta);
  Object.assign(root.dataset, {
    room: meta.room,
    label: meta.label,
    private: String(meta.private),
    direct: String(meta.direct),
    lastRead: meta.lastRead ?? "",
    loginUrl: `${loginBase}?next=${encodeURIComponent(meta.url)}`,
  });
  notifier.setBaseTitle(`${meta.label} · DynamoWave Chat`);
  sidebar.setCurrent(meta.room, { kind: meta.kind, label: meta.label });
  completer.setNames?.(meta.memberNames.filter((name) => name !== viewer.username));
  input.value = "";
  draftRestore();
  attachments.show(meta.room);
  state.unseen = 0;
  showUnseen();
  // Where the reader was: at the newest, or their place further up.
  state.list.scrollTop = state.scrollTop ?? state.list.scrollHeight;
  updateComposer();
  if (connection.room !== meta.room) connection.moveTo(meta.room);
  input.focus(); // opening a room is to read and write in it
}

// -- page state ---------------------------------------------------------------------------------

const STATUS_TEXT = {
  connecting: "connecting…",
  live: "live",
  reconnecting: "reconnecting…",
  offline: "offline",
};

function setStatus(state, detail = {}) {
  if (state !== "live" && current?.outbox.live) current.outbox.closed(); // they wait, and say so
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
  current.outbox.closed();
  updateComposer();
  if (code === "account_suspended") {
    showNotice("Your account is suspended. Ask an administrator if you think this is a mistake.", {
      sticky: true,
    });
    return;
  }
  showNotice("Your session has ended.", {
    sticky: true,
    link: { href: root.dataset.loginUrl, text: "Log in again" },
  });
}

function roomGone(text) {
  ended = true; // the sidebar's links now load their pages
  connection.stop();
  setStatus("offline");
  showNotice(text, { sticky: true, link: { href: data.roomsUrl, text: "All rooms" } });
}

async function roomCheck() {
  // A refused handshake may mean the room was archived (or removed) while the page was open:
  // the page's own status says so (410, 404), which the WebSocket API cannot tell the browser.
  let response;
  try {
    response = await fetch(roomUrl(connection.room), { method: "HEAD" });
  } catch {
    return; // offline or the site is down: the retries go on
  }
  if (response.status === 410) roomGone("This room is archived.");
  else if (response.status === 404) roomGone("This room does not exist.");
  else if (response.status === 403) roomGone("This room is private: you are not a member.");
}

// -- the connection's events -------------------------------------------------------------------

/** The sidebar's counts as stored now: `unread` frames sent while the page was away (a
 * reconnect, a hidden tab) never arrive, and big rooms send none. */
async function refreshUnread() {
  clearTimeout(unreadTimer);
  unreadTimer = setTimeout(() => {
    if (document.visibilityState === "visible") refreshUnread();
  }, UNREAD_REFRESH_MS);
  const counts = await fetchUnread(data.unreadUrl);
  if (counts) sidebar.showAll(counts);
}

function opened() {
  refreshUnread();
  typing.clear(); // their messages may come back through history, which would not clear them
  connection.send({ action: "presence" });
  const { pager, changes, outbox } = current;
  const repairing = changes.opened();
  pager.opened({ catchUp: !repairing }); // edits and deletions missed come back too
  // The change log asks `since` its position once it knows of a change past it: a room shown
  // again after a switch (or a reconnect) learns the room's newest change from this pong.
  if (repairing) connection.ping();
  // Sends not echoed yet go again with the same clientMessageId: the server stores each once
  // and answers a repeat with the stored message.
  outbox.opened();
  threadPanel.opened();
  // The viewer's followed threads here and their unread counts (badges on their parents).
  connection.send({ action: "history", threads: true });
}

function handleFrame(frame, { current: live = true, room: from } = {}) {
  if (frame.type === "unread") {
    sidebar.show(frame); // about the user's other rooms (the room shown is being read)
    return;
  }
  if (frame.type === "thread_unread") {
    threadUnread(frame); // a followed thread, in any of the user's rooms
    return;
  }
  // A socket of the room left (closing after a switch) may still deliver: not this room's.
  if (from !== undefined && from !== current.room) return;
  if (frame.room !== undefined && frame.room !== current.room) return;
  const { messages, outbox, changes } = current;
  switch (frame.type) {
    case "message": {
      if (!validMessage(frame)) return;
      // A reply: its thread (if shown), its parent's new summary; the room only if also sent
      // there.
      const place = placeOf(frame);
      if (frame.parent && typeof frame.parent.id === "string") parentChanged(frame.parent);
      if (place.thread) threadPanel.receive(frame);
      if (place.thread && current.messages.isOwn(frame)) followedAsk(place.thread);
      if (!place.room) {
        typing.stopped(frame.user);
        changed(frame.rev);
        break;
      }
      typing.stopped(frame.user);
      announce(frame);
      noteUnseen(frame);
      changeMessages(current, () => receiveMessage(frame), {
        own: outbox.has(frame.client_message_id),
      });
      changed(frame.rev);
      markRead();
      if (!place.thread) notifyOf(frame); // a reply notifies its followers (thread_unread)
      break;
    }
    case "changes":
      if (Array.isArray(frame.messages)) batchArrived(frame);
      break;
    case "history":
      if (!Array.isArray(frame.messages)) return;
      if (frame.thread !== undefined) threadPanel.historyArrived(frame);
      else if (frame.since !== undefined) changesArrived(frame);
      else historyArrived(frame);
      break;
    case "threads":
      for (const entry of Array.isArray(frame.threads) ? frame.threads : []) {
        if (entry && typeof entry === "object") entry.unread = unreadShown(current.room, entry.thread, entry.unread);
        messages.setThreadUnread(entry.thread, entry.unread);
      }
      followed.showAll(frame.threads);
      break;
    case "message_updated":
      // A whole message: no `reactions` means none are left.
      if (validMessage(frame)) {
        changeMessages(current, () => messages.update({ reactions: [], ...frame }));
        threadPanel.update({ reactions: [], ...frame });
      }
      changed(frame.rev);
      break;
    case "message_deleted":
      if (typeof frame.id === "string") {
        const deletion = { id: frame.id, deleted: true, text: "", rev: frame.rev };
        changeMessages(current, () => messages.update(deletion));
        threadPanel.update(deletion);
      }
      changed(frame.rev);
      break;
    case "pong":
      changes.pong(frame.rev);
      break;
    case "presence":
      if (Array.isArray(frame.users)) presence.show(frame.users, frame.online);
      break;
    case "typing":
      typing.started(frame.user);
      break;
    case "error":
      serverError(frame, live);
      break;
    default: // info: nothing to show
  }
}

/** Read a new message from someone else out (the list itself is not a live region: loading
 * history or a repair would be read aloud). */
function announce(message) {
  const { messages } = current;
  if (!announcer || messages.has(message.id) || messages.isOwn(message)) return;
  const author = String(message.user?.username ?? "someone");
  announcer.textContent = `${author}: ${String(message.text ?? "")}${filesSaid(message.files)}`;
}

/** " (files: a.png, notes.pdf)" for a message's files, as it is read out or previewed. */
function filesSaid(files) {
  const names = Array.isArray(files) ? files.map((file) => String(file?.name ?? "")).filter(Boolean) : [];
  return names.length ? ` (${names.length === 1 ? "file" : "files"}: ${names.join(", ")})` : "";
}

function validMessage(message) {
  return typeof message?.id === "string" && message.id !== "" && typeof message.user === "object";
}

/** What changed since the change log's position: each message as it is now. One older than
 * every message held is not inserted (it is not on the page yet: paging up brings it). */
function changesArrived(frame) {
  const { messages, pager, changes } = current;
  const page = frame.messages.filter(validMessage);
  const oldest = messages.oldestId;
  changeMessages(current, () => {
    for (const message of page) {
      const place = placeOf(message);
      threadPanel.update({ reactions: [], ...message }); // a parent shown in its thread
      if (place.thread) threadPanel.receive(message);
      if (!place.room) continue; // a reply shown only in its thread
      if (messages.has(message.id)) messages.update({ reactions: [], ...message });
      else if (oldest === null || message.id > oldest || !pager.hasOlder) receiveMessage(message);
    }
    showNewMessagesLine();
  });
  for (const message of page) changes.note(message.rev);
  changes.answered(frame);
  markRead();
}

/** A large room's batch: the changes of a short window, each message as it is now (its
 * sender's own copy came at once, without its number). */
function batchArrived(frame) {
  const { messages, outbox, changes } = current;
  const all = frame.messages.filter(validMessage);
  for (const message of all) {
    threadPanel.update({ reactions: [], ...message });
    if (placeOf(message).thread) threadPanel.receive(message);
  }
  const page = all.filter((message) => placeOf(message).room);
  const fresh = page.filter((message) => !messages.has(message.id));
  for (const message of fresh) {
    typing.stopped(message.user);
    announce(message);
    noteUnseen(message);
  }
  const own = fresh.some((message) => outbox.has(message.client_message_id));
  changeMessages(
    current,
    () => {
      for (const message of page) {
        if (messages.has(message.id)) messages.update({ reactions: [], ...message });
        else receiveMessage(message);
      }
    },
    { own },
  );
  for (const message of all) changes.note(message.rev);
  for (const [first, last] of Array.isArray(frame.empty) ? frame.empty : []) {
    for (let n = first; n <= last; n += 1) changes.note(n);
  }
  markRead();
  for (const message of fresh) notifyOf(message);
}

/** A parent's new thread summary (a reply's frame carries it, under its own change number). */
function parentChanged(parent) {
  const summary = { id: parent.id, rev: parent.rev, replies: parent.replies };
  changeMessages(current, () => current.messages.update(summary));
  threadPanel.update(summary);
  changed(parent.rev);
}

/** A thread newly followed (a first reply to the viewer's message, their own first reply, a
 * mention): the list says what it is. One frame, once per thread. */
function followedAsk(thread) {
  if (listAsked.has(thread) || followed.entries.has(thread)) return;
  listAsked.add(thread);
  connection.send({ action: "history", threads: true });
}

/** A thread's unread count as the page shows it: none for the thread being read (open, seen,
 * at its newest reply), whose reply's count comes before the page's `markread` does. */
function unreadShown(room, thread, unread) {
  return room === current.room && threadPanel.reading(thread) ? 0 : unread;
}

/** The thread shown was marked read: its parent's badge goes now, not when the server's
 * `thread_unread` comes back. */
function threadRead(thread) {
  current.messages.setThreadUnread(thread, 0);
  followed.counts(thread, 0);
}

/** A followed thread's counts: the badge on its parent; a notification (page hidden) for the
 * reply that brought them. */
function threadUnread(frame) {
  if (typeof frame.thread !== "string") return;
  const unread = unreadShown(frame.room, frame.thread, frame.unread);
  rooms.get(frame.room)?.messages.setThreadUnread(frame.thread, unread);
  if (frame.room === current.room && !followed.counts(frame.thread, unread)) {
    followedAsk(frame.thread);
  }
  const reply = frame.reply;
  if (!validMessage(reply) || current.messages.isOwn(reply)) return;
  const author = String(reply.user?.username ?? "someone");
  const label = rooms.get(frame.room)?.meta.label ?? `#${frame.room}`;
  const named = Number(frame.mentions) > 0 && mentionsMe(reply.text);
  notifier.notify({
    title: named
      ? `${author} mentioned you in a thread in ${label}`
      : `${author} replied in a thread in ${label}`,
    body: String(reply.text ?? ""),
    url: `${roomUrl(String(frame.room))}?thread=${encodeURIComponent(frame.thread)}`,
    tag: `dynamowave-thread-${frame.thread}`,
  });
}

// A lost last change is found by the answer to the next ping (the keep-alive, or the page
// shown again): no frame is sent per change heard. A lost change followed by another is found
// by that one's number at once.
function changed(rev) {
  current.changes.note(rev);
}

function receiveMessage(message) {
  const { messages, outbox } = current;
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

function serverError(frame, live) {
  const code = String(frame.code ?? "");
  const clientId = frame.client_message_id;
  const { outbox } = current;
  if (typeof clientId === "string" && outbox.has(clientId)) {
    const retryAfter = Number(frame.retry_after);
    outbox.refused(clientId, { code, message: String(frame.message ?? ""), retryAfter });
    if (code === "not_connected" && live) connection.replace();
    // The fence (docs/multi-region.md): the server closes this socket too; the next one, after
    // the backoff (DNS may still name this Region a while), goes where the domain points.
    if (code === "region_moved" && live) connection.reconnect();
    return;
  }
  if (code === "rate_limited" && BACKGROUND_ACTIONS.has(frame.action)) return;
  // Storage failing for a moment: what the page asked by itself goes again by itself (history
  // after a wait; the connection moves to another socket after a few such answers in a row).
  if (code === "unavailable" && (BACKGROUND_ACTIONS.has(frame.action) || frame.action === "history")) {
    if (frame.action === "history") current.pager.refused();
    return;
  }
  if (code === "room_archived") roomGone("This room is archived.");
  else if (code === "room_not_found") roomGone("This room does not exist.");
  else if (code === "not_a_member") roomGone("This room is private: you are not a member.");
  else if (code === "not_connected") {
    if (live) connection.replace(); // one being replaced may say so of itself: no matter
  } else if (code === "region_moved") {
    if (live) connection.reconnect();
    showNotice("The chat moved to another Region: reconnecting. Try that again in a moment.");
  } else {
    showNotice(String(frame.message || code || "Something went wrong."));
  }
}

// -- history, repair and scrolling ---------------------------------------------------------------

function historyArrived(frame) {
  const { pager, changes } = current;
  const page = frame.messages.filter(validMessage);
  changeMessages(current, () => {
    page.forEach(receiveMessage);
    showNewMessagesLine();
  });
  for (const message of page) changes.note(message.rev);
  changes.loaded(frame.rev); // the newest page: where the change log starts
  pager.answered(frame, page);
  wantOlderIfNearTop(current);
  markRead();
}

// -- read positions, unread badges, notifications ------------------------------------------------

/** Once per room: a "New messages" line above the first message after the read position the
 * room had when it was opened. */
function showNewMessagesLine() {
  const state = current;
  const lastRead = state.meta.lastRead;
  if (state.newLineShown || !lastRead) return;
  const first = [...state.list.querySelectorAll("li.message[data-id]")].find(
    (item) => item.dataset.id > lastRead && item.dataset.userId !== viewer.userId,
  );
  if (!first) return;
  state.newLineShown = true;
  const line = document.createElement("li");
  line.className = "new-messages";
  line.textContent = "New messages";
  state.list.insertBefore(line, first);
}

function atBottom(state) {
  const { list } = state;
  return list.scrollHeight - list.scrollTop - list.clientHeight < NEAR_BOTTOM_PX;
}

/** Tell the server how far the reader has read (the room shown, visible, read to the bottom):
 * soon after the room is shown; after that each keep-alive ping carries it (pingFields), and
 * leaving the room or hiding the page sends what is left (markFlush). */
function markRead() {
  const state = current;
  if (state.markedSinceShown || !markable(state) || state.markTimer) return;
  state.markTimer = setTimeout(() => {
    state.markTimer = null;
    if (state === current && document.visibilityState === "visible") markSend(state);
  }, MARK_FIRST_MS);
}

/** At once, what was read and not marked yet (leaving the room, hiding the page). */
function markFlush(state) {
  clearTimeout(state.markTimer);
  state.markTimer = null;
  markSend(state);
}

/** Read to its newest message, not marked yet, and seen: the room shown, the page visible. */
function markable(state) {
  return (
    state === current &&
    document.visibilityState === "visible" &&
    connection.room === state.room &&
    unmarked(state)
  );
}

function unmarked(state) {
  const newest = state.messages.newestId;
  return Boolean(newest) && !(state.markedRead && newest <= state.markedRead) && atBottom(state);
}

function markSend(state) {
  if (!unmarked(state) || connection.room !== state.room) return;
  const newest = state.messages.newestId;
  if (connection.send({ action: "markread", id: newest })) {
    state.markedRead = newest;
    state.markedSinceShown = true;
  }
}

function mentionsMe(text) {
  return [...String(text ?? "").matchAll(MENTION_RE)].some((m) => m[1] === viewer.username);
}

/** A notification (page hidden) for a message of the room shown naming the viewer, or of a
 * conversation. */
function notifyOf(message) {
  if (!validMessage(message) || current.messages.isOwn(message)) return;
  const { meta } = current;
  if (!meta.direct && !mentionsMe(message.text)) return;
  const author = String(message.user?.username ?? "someone");
  notifier.notify({
    title: meta.direct ? author : `${author} mentioned you in ${meta.label}`,
    body: String(message.text ?? ""),
    url: meta.url,
    tag: `dynamowave-${meta.room}`,
  });
}

// -- scrolling and the "new messages ↓" button ----------------------------------------------------

function scrolled(state) {
  if (state !== current) return;
  wantOlderIfNearTop(state);
  if (atBottom(state)) {
    state.unseen = 0;
    showUnseen();
    markRead();
  }
}

/** A new message from someone else arriving below a reader scrolled up: counted on the button. */
function noteUnseen(message) {
  const state = current;
  if (state.messages.has(message.id) || state.messages.isOwn(message) || atBottom(state)) return;
  state.unseen += 1;
  showUnseen();
}

function showUnseen() {
  const count = current.unseen;
  newBelow.hidden = count === 0;
  newBelow.textContent = count === 1 ? "1 new message ↓" : `${count} new messages ↓`;
}

newBelow.addEventListener("click", () => {
  const state = current;
  state.list.scrollTop = state.list.scrollHeight;
  state.unseen = 0;
  showUnseen();
  markRead();
  input.focus();
});

function wantOlderIfNearTop(state) {
  if (state.list.scrollTop < NEAR_TOP_PX) state.pager.wantOlder();
}

/**
 * Change a room's list while keeping what the reader sees in place: someone reading the newest
 * messages stays at the bottom; someone reading older ones keeps the message at the top of
 * their view where it was, whether messages were added above (older pages) or below.
 */
function changeMessages(state, change, { own = false } = {}) {
  const { list, messages } = state;
  const bottom = atBottom(state);
  const anchor = bottom ? null : firstVisibleMessage(list);
  const anchorTop = anchor?.getBoundingClientRect().top;
  change();
  messages.refreshSeparators();
  if (list.hidden) return; // a room not shown: its place is restored when it is
  if (bottom || own) list.scrollTop = list.scrollHeight;
  else if (anchor?.isConnected) list.scrollTop += anchor.getBoundingClientRect().top - anchorTop;
}

function firstVisibleMessage(list) {
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
  const queue = attachments.queueOf(current.room);
  if (ended || (!text.trim() && queue.size === 0)) return;
  if (length(text) > maxChars) {
    showNotice(`Messages are at most ${maxChars} characters; this one has ${length(text)}.`);
    return;
  }
  // With files, it goes once they are all uploaded and checked (uploads.js); the caption leaves
  // the composer now, as any message sent does.
  const how = attachments.submit(current.room, text);
  if (how === "blocked") {
    showNotice("Not sent: a file could not be attached. Remove it (✕) to send the rest.");
    return;
  }
  if (how === "none") current.outbox.add(text); // out now, or when live, in order (showSend)
  input.value = "";
  draftSave();
  // The typing burst goes on: a flurry of messages is told once (typing.js).
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

/** Render a send's state in its room's list (each room's outbox calls this on every change). */
function showSend(state, entry, { removed = false }) {
  const { messages, outbox } = state;
  if (removed) {
    messages.settle(entry.id);
    return;
  }
  if (!messages.pending.has(entry.id)) {
    changeMessages(state, () => messages.addPending(entry.id, entry.text, entry.files), { own: true });
  }
  const about = `your message “${preview(entry.text + filesSaid(entry.files))}”`;
  if (entry.state === "failed") {
    const reason = entry.message || entry.code;
    messages.pendingState(entry.id, {
      state: "failed",
      label: `not sent: ${reason}`,
      buttons: [
        { name: "retry", label: "Retry", describe: `Retry sending ${about}`,
          onClick: () => outbox.retry(entry.id) },
        // Edit puts only text back in the composer: a send with files has Retry and Discard.
        entry.files.length ? null : { name: "edit-failed", label: "Edit", describe: `Edit ${about}`,
          onClick: () => editFailed(entry.id) },
        { name: "discard", label: "Discard", describe: `Discard ${about}`,
          onClick: () => outbox.discard(entry.id) },
      ].filter(Boolean),
    });
    if (entry.code !== "expired" && state === current) showNotice(`Your message was not sent: ${reason}`);
  } else if (entry.state === "waiting") {
    messages.pendingState(entry.id, { state: "waiting", label: WAITING_TEXT[entry.reason] ?? "waiting…" });
  } else {
    messages.pendingState(entry.id, { state: "pending", label: "sending…" });
  }
}

/** A failed send back in the composer, to correct and send again (as a new message). */
function editFailed(clientMessageId) {
  const entry = current.outbox.discard(clientMessageId);
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

function tabStore() {
  try {
    return window.sessionStorage; // as localStore()
  } catch {
    return null;
  }
}

const drafts = new Map(); // room -> draft, for a browser without storage

function draftSave() {
  drafts.set(current.room, input.value);
  try {
    if (input.value.trim()) storage?.setItem(current.draftKey, input.value);
    else storage?.removeItem(current.draftKey);
  } catch {
    // Full or disabled: the draft lives as long as the page.
  }
}

function draftRestore() {
  let draft = drafts.get(current.room) ?? "";
  try {
    draft = storage?.getItem(current.draftKey) ?? draft;
  } catch {
    // as in draftSave()
  }
  if (draft && !input.value) input.value = draft;
}

function typed() {
  draftSave();
  updateComposer();
  const online = Number(presenceList.dataset.count || 0);
  if (!typingNotices.input({ hasText: Boolean(input.value.trim()), online })) return;
  if (connection.send({ action: "typing" })) typingNotices.sent();
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
  } else if (
    event.key === "ArrowUp" && !input.value && !event.shiftKey && !event.altKey
    && !event.ctrlKey && !event.metaKey && current.messages.editLast?.()
  ) {
    event.preventDefault(); // ↑ in an empty composer: edit one's last message
  }
});

input.addEventListener("input", typed);

// The skip link focuses the composer without touching the URL (a hash would be a history entry).
document.querySelector(".skip-link")?.addEventListener("click", (event) => {
  event.preventDefault();
  input.focus();
});
document.getElementById("quick-switch-open").addEventListener("click", () => quickSwitcher.show());

// -- page lifecycle -------------------------------------------------------------------------------

window.addEventListener("popstate", () => {
  const name = roomFromPath(window.location.pathname);
  if (name) openRoom(name, { push: false });
  else window.location.reload();
});

window.addEventListener("online", () => connection.resume());
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") {
    connection.resume(); // skip a long backoff wait
    refreshUnread();
    // What changed while hidden, a lost last message included, and what is now read: one ping.
    connection.ping();
    threadPanel.markSoon(); // a thread open while hidden: its replies are read now
  } else {
    markFlush(current); // what was read before the page was hidden
  }
});

window.addEventListener("pagehide", () => {
  connection.stop(); // leaving the page closes the socket; that close must not schedule a retry
});

window.addEventListener("pageshow", (event) => {
  // Restored from the back/forward cache: start over with a fresh token.
  if (event.persisted && !ended) connection.start();
});

const first = roomMetaFromPage(root);
// `?message=<id>` (a search result opened in a new tab): the room at that message.
const openAt = new URLSearchParams(window.location.search).get("message");
history.replaceState({ room: first.room }, "", openAt ? first.url : undefined);
show(roomState(first, document.getElementById("messages")));
connection.start();
if (openAt) revealMessage(current, openAt).then((found) => found || showNotice("That message is no longer in the room."));
