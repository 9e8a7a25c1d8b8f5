// The unread and mention badges of a room's entry (the chat page's switcher, the rooms page's
// lists) and the notification an `unread` frame may raise: the same on both pages.

/** Show the server's counts on an entry: `<li data-room data-direct>` with an `a` (its label
 * in `.room-title` if it has one) and `.badge.unread` / `.badge.mention`. */
export function badgesSet(entry, { unread, mentions }) {
  for (const [name, count] of [["unread", unread], ["mention", mentions]]) {
    const badge = entry.querySelector(`.badge.${name}`);
    if (!badge) continue;
    const value = Number.isInteger(count) && count > 0 ? count : 0;
    badge.dataset.count = String(value);
    badge.textContent = name === "mention" ? `@${value}` : value >= 100 ? "99+" : String(value);
    badge.hidden = value === 0;
  }
}

/** Apply an `unread` frame to its entry. Unless it is `quiet` (counts read again after being
 * away), a hidden page is notified of a mention, or of a conversation's new message. */
export function unreadShow(entry, frame, notifier) {
  const before = Number(entry.querySelector(".badge.unread")?.dataset.count) || 0;
  const direct = entry.dataset.direct === "true";
  const link = entry.querySelector("a");
  const label = (entry.querySelector(".room-title") ?? link).textContent.trim();
  const url = link.getAttribute("href");
  const tag = `dynamowave-${frame.room}`;
  const mention = frame.mention;
  if (frame.quiet) {
    // nothing new to announce
  } else if (mention && typeof mention === "object") {
    const author = String(mention.user?.username ?? "someone");
    notifier.notify({
      title: direct ? author : `${author} mentioned you in ${label}`,
      body: String(mention.text ?? ""),
      url,
      tag,
    });
  } else if (direct && frame.unread > before) {
    notifier.notify({ title: label, body: "sent you a message", url, tag });
  }
  badgesSet(entry, frame);
}
