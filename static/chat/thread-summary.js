// What the page says of threads, without the DOM (node --test tests/js/): where a message
// belongs (the room, a thread, or both) and a parent's "3 replies · last reply 5 min ago".

/** Where a message frame is shown: in the room (not a reply, or a reply also sent to it) and
 * in which thread (a reply's parent id), so old frames and new ones route the same way. */
export function placeOf(message) {
  const thread = typeof message?.thread === "string" && message.thread ? message.thread : null;
  return { room: thread === null || message.in_room === true, thread };
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** "just now", "3 min ago", "2 h ago", "yesterday", "4 days ago". */
export function agoText(then, now = Date.now()) {
  const elapsed = Math.max(0, now - then);
  if (elapsed < MINUTE) return "just now";
  if (elapsed < HOUR) return `${Math.floor(elapsed / MINUTE)} min ago`;
  if (elapsed < DAY) return `${Math.floor(elapsed / HOUR)} h ago`;
  const days = Math.floor(elapsed / DAY);
  return days === 1 ? "yesterday" : `${days} days ago`;
}

/** A parent's summary line, or null when it has no replies: "1 reply · last reply just now". */
export function summaryText(replies, now = Date.now()) {
  const count = Number(replies?.count);
  if (!Number.isInteger(count) || count <= 0) return null;
  const noun = count === 1 ? "1 reply" : `${count} replies`;
  const last = Date.parse(replies.last_at ?? "");
  return Number.isNaN(last) ? noun : `${noun} · last reply ${agoText(last, now)}`;
}

/** The repliers' names as the summary lists them (newest first, at most 3). */
export function replierNames(replies) {
  const users = Array.isArray(replies?.users) ? replies.users : [];
  return users.map((user) => String(user?.username ?? "")).filter(Boolean).slice(0, 3);
}
