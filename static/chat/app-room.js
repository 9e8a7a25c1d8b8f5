// What the chat page shows about the room it is in: its description (from the page's own
// markup at first, from `GET /api/rooms/<room>/` after a switch) and the header, details panel,
// composer label and title that follow it.

/** The room the page was rendered for, from `#chat`'s data attributes. */
export function roomMetaFromPage(root) {
  const data = root.dataset;
  const direct = data.direct === "true";
  const isPrivate = data.private === "true";
  return {
    room: data.room,
    label: data.label || `#${data.room}`,
    title: data.title || data.room,
    description: data.description || "",
    kind: direct ? "direct" : isPrivate ? "private" : "public",
    private: isPrivate,
    direct,
    others: direct ? (data.label || "").split(", ").filter(Boolean) : [],
    lastRead: data.lastRead || null,
    memberNames: JSON.parse(document.getElementById("member-names")?.textContent || "[]"),
    membersUrl: data.membersUrl || null,
    createdBy: data.createdBy || "",
    url: window.location.pathname,
  };
}

/** `GET /api/rooms/<room>/` as the page's room description; null when it cannot be had (the
 * caller then loads the room's page, which shows why: 404, 410, 403, or the login). */
export async function roomMetaFetch(room) {
  let response;
  try {
    response = await fetch(`/api/rooms/${encodeURIComponent(room)}/`, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
  } catch {
    return null;
  }
  if (!response.ok) return null;
  let body;
  try {
    body = await response.json();
  } catch {
    return null;
  }
  if (typeof body?.room !== "string") return null;
  const others = Array.isArray(body.others) ? body.others.map(String) : [];
  return {
    room: body.room,
    label: String(body.label || (body.direct ? others.join(", ") : `#${body.room}`)),
    title: String(body.title || body.room),
    description: String(body.description || ""),
    kind: body.kind || (body.direct ? "direct" : body.private ? "private" : "public"),
    private: body.private === true,
    direct: body.direct === true,
    others,
    lastRead: body.last_read || null,
    memberNames: Array.isArray(body.member_names) ? body.member_names.map(String) : [],
    membersUrl: body.members_url || null,
    createdBy: String(body.created_by || ""),
    url: body.url || `/rooms/${encodeURIComponent(body.room)}/`,
  };
}

/** What the top of a fully loaded list says. */
export function beginningText(meta) {
  if (meta.direct) {
    const names = new Intl.ListFormat("en", { style: "long", type: "conjunction" });
    return `This is the beginning of your conversation with ${names.format(meta.others)}.`;
  }
  return `This is the beginning of ${meta.label}.`;
}

const set = (id, text) => {
  const element = document.getElementById(id);
  element.textContent = text;
  element.hidden = !text;
  return element;
};

/** Header, details panel, composer and title for `meta`'s room. */
export function roomShow(meta) {
  const heading = document.querySelector(".room-name");
  if (meta.direct) {
    heading.textContent = meta.label;
  } else if (meta.title && meta.title !== meta.room) {
    const slug = document.createElement("span");
    slug.className = "room-slug";
    slug.textContent = `#${meta.room}`;
    heading.replaceChildren(document.createTextNode(`${meta.title} `), slug);
  } else {
    heading.textContent = `#${meta.room}`;
  }
  const description = document.querySelector(".room-description");
  description.textContent = meta.description;
  description.hidden = !meta.description;
  set("about-description", meta.description);
  set(
    "about-kind",
    meta.direct ? "Direct conversation · only you and them"
      : meta.private ? "Private room" : "Public room · anyone can join",
  );
  const created = document.getElementById("about-created");
  created.querySelector(".created-by").textContent = meta.createdBy;
  created.hidden = !meta.createdBy;
  const members = document.getElementById("about-members");
  const membersUrl = meta.private && !meta.direct
    ? meta.membersUrl || `/rooms/${encodeURIComponent(meta.room)}/members/` : null;
  members.hidden = !membersUrl;
  document.getElementById("members-link").setAttribute("href", membersUrl ?? "");
  document.getElementById("message-input-label").textContent = `Message ${meta.label}`;
  shownLabel = meta.label;
  placeholderShow();
}

// The composer's placeholder says how to send where there is room for it, and only the room's
// name where there is not (a phone; a narrow column beside an open thread): a hint that wraps
// to three lines of a box that shows one and a half, or is cut mid-word, helps nobody.
let shownLabel = "";
let measure = null;

/**
 * The placeholder for a room's label that `fits` (text => whether it fits on one line): the
 * hint if it does, else "Message #room", else that cut short with an ellipsis.
 */
export function composerPlaceholder(label, fits) {
  const full = `Message ${label} (Enter sends, Shift+Enter adds a line)`;
  if (fits(full)) return full;
  const short = `Message ${label}`;
  if (fits(short)) return short;
  const chars = [...short];
  for (let keep = chars.length - 1; keep > "Message ".length; keep -= 1) {
    const cut = `${chars.slice(0, keep).join("")}…`;
    if (fits(cut)) return cut;
  }
  return short; // nothing shorter says anything: CSS keeps it on one line
}

/** Whether `text` fits on one line of `box` (its font, its width inside the padding). */
function fitsIn(box, text) {
  measure ??= document.createElement("canvas").getContext("2d");
  const style = getComputedStyle(box);
  measure.font = style.font;
  const inner = box.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return measure.measureText(text).width <= inner;
}

function placeholderShow() {
  const box = document.getElementById("message-input");
  if (!box.clientWidth) return; // not laid out yet: the observer below calls again
  box.placeholder = composerPlaceholder(shownLabel, (text) => fitsIn(box, text));
}

if (typeof ResizeObserver === "function" && typeof document !== "undefined") {
  const box = document.getElementById("message-input");
  let width = 0;
  if (box) {
    new ResizeObserver(() => {
      if (box.clientWidth === width || !shownLabel) return;
      width = box.clientWidth;
      placeholderShow();
    }).observe(box);
  }
}
