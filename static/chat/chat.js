// The chat page: trades the login session for a short-lived token, keeps one WebSocket open to
// the room, and renders its frames. User text reaches the DOM only through textContent.

const HISTORY_LIMIT = 50;
const BACKOFF_BASE_MS = 1000;
const BACKOFF_MAX_MS = 30_000;
const NOTICE_MS = 8000;
const STATUS_TEXT = {
  connecting: "connecting…",
  live: "live",
  reconnecting: "reconnecting…",
  offline: "offline",
};

const root = document.getElementById("chat");
const { room, username, tokenUrl, loginUrl } = root.dataset;
const statusEl = document.getElementById("status");
const noticeEl = document.getElementById("notice");
const list = document.getElementById("messages");
const composer = document.getElementById("composer");
const input = document.getElementById("message-input");
const sendButton = document.getElementById("send");
const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

const seen = new Set(); // message ids already on the page: history and live frames overlap
let socket = null;
let failures = 0; // consecutive attempts that did not reach "live"; drives the backoff
let retryTimer = null;
let noticeTimer = null;
let stopped = false; // the session ended (or the page is going away): retrying cannot help

class SessionEnded extends Error {}

function setStatus(state) {
  statusEl.textContent = STATUS_TEXT[state];
  statusEl.dataset.state = state;
  const live = state === "live";
  input.disabled = !live;
  sendButton.disabled = !live;
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

function csrfToken() {
  // The cookie first: logging in from another tab rotates it, leaving the page's copy stale.
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : root.dataset.csrfToken;
}

async function fetchToken() {
  const response = await fetch(tokenUrl, {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-CSRFToken": csrfToken() },
  });
  if (response.status === 401 || response.status === 403) throw new SessionEnded();
  if (!response.ok) throw new Error(`token request failed with ${response.status}`);
  return response.json();
}

async function connect() {
  retryTimer = null;
  if (stopped) return;
  let grant;
  try {
    grant = await fetchToken(); // a fresh token per attempt: they live for minutes only
  } catch (error) {
    if (error instanceof SessionEnded) endSession();
    else scheduleRetry();
    return;
  }
  const url = `${grant.websocket_url}?token=${encodeURIComponent(grant.token)}`
    + `&room=${encodeURIComponent(room)}`;
  let ws;
  try {
    ws = new WebSocket(url);
  } catch {
    scheduleRetry();
    return;
  }
  socket = ws;
  ws.addEventListener("open", () => {
    failures = 0;
    setStatus("live");
    if (document.activeElement === document.body) input.focus();
    ws.send(JSON.stringify({ action: "history", limit: HISTORY_LIMIT }));
  });
  ws.addEventListener("message", (event) => handleFrame(event.data));
  ws.addEventListener("close", () => {
    // Only the current socket may trigger a retry; a replaced one closing late must not.
    if (socket !== ws) return;
    socket = null;
    scheduleRetry();
  });
}

function scheduleRetry() {
  if (stopped || retryTimer) return;
  if (!navigator.onLine) {
    setStatus("offline"); // the "online" listener below resumes
    return;
  }
  setStatus("reconnecting");
  const delay = Math.min(BACKOFF_BASE_MS * 2 ** failures, BACKOFF_MAX_MS);
  failures += 1;
  retryTimer = setTimeout(connect, delay);
}

function endSession() {
  stopped = true;
  setStatus("offline");
  showNotice("Your session has ended.", {
    sticky: true,
    link: { href: loginUrl, text: "Log in again" },
  });
}

function handleFrame(data) {
  let frame;
  try {
    frame = JSON.parse(data);
  } catch {
    return;
  }
  if (!frame || typeof frame !== "object") return;
  if (frame.type === "message") {
    insertMessage(frame);
    scrollToBottom();
  } else if (frame.type === "history" && Array.isArray(frame.messages)) {
    frame.messages.forEach(insertMessage);
    scrollToBottom();
  } else if (frame.type === "error") {
    showNotice(String(frame.message || frame.code || "Something went wrong."));
  }
}

function insertMessage(message) {
  const id = typeof message?.id === "string" ? message.id : "";
  if (!id || seen.has(id) || (message.room && message.room !== room)) return;
  seen.add(id);
  const item = renderMessage(message, id);
  // Ids are ULIDs, so id order is time order: a history page that arrives after live messages
  // still lands above them. Scan from the end, where live messages go.
  let before = null;
  for (let el = list.lastElementChild; el && el.dataset.id > id; el = el.previousElementSibling) {
    before = el;
  }
  list.insertBefore(item, before);
}

function renderMessage(message, id) {
  const author = message.user?.username;
  const item = document.createElement("li");
  item.className = "message";
  item.dataset.id = id;
  if (author === username) item.classList.add("own");

  const meta = document.createElement("div");
  meta.className = "meta";
  const name = document.createElement("span");
  name.className = "author";
  name.textContent = typeof author === "string" ? author : "unknown";
  const time = document.createElement("time");
  const sent = new Date(message.sent_at);
  if (!Number.isNaN(sent.getTime())) {
    time.dateTime = sent.toISOString();
    time.textContent = timeFormat.format(sent);
    time.title = sent.toLocaleString();
  }
  meta.append(name, time);

  const text = document.createElement("p");
  text.className = "text";
  text.textContent = String(message.text ?? "");
  item.append(meta, text);
  return item;
}

function scrollToBottom() {
  list.scrollTop = list.scrollHeight;
}

function send() {
  const text = input.value;
  if (!text.trim() || !socket || socket.readyState !== WebSocket.OPEN) return;
  socket.send(JSON.stringify({ action: "sendmessage", message: text }));
  input.value = "";
  input.focus();
}

composer.addEventListener("submit", (event) => {
  event.preventDefault();
  send();
});

input.addEventListener("keydown", (event) => {
  // isComposing: Enter that confirms an IME composition (Japanese, Chinese…) is not "send".
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    send();
  }
});

window.addEventListener("online", () => {
  if (!stopped && !socket && !retryTimer) {
    failures = 0;
    setStatus("reconnecting");
    connect();
  }
});

window.addEventListener("pagehide", () => {
  stopped = true; // leaving the page closes the socket; that close must not schedule a retry
  clearTimeout(retryTimer);
  retryTimer = null;
  socket?.close(1000);
  socket = null;
});

window.addEventListener("pageshow", (event) => {
  if (event.persisted) {
    // Restored from the back/forward cache: start over with a fresh token.
    stopped = false;
    failures = 0;
    setStatus("reconnecting");
    connect();
  }
});

setStatus("connecting");
connect();
