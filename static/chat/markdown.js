// Messages' Markdown subset, rendered on the page from the text as stored (the server never
// stores HTML): bold, italics, strikethrough, inline code, fenced code, block quotes, lists,
// http(s)/mailto links and bare URLs, and @mentions. Headings, tables, images and raw HTML stay
// text.
//
// Two layers: marked's renderer is told to write only the subset (raw HTML and images are
// escaped back to text, links with another scheme are text), and DOMPurify then parses that
// HTML in an inert document and keeps only the allow-list below, handing back a
// DocumentFragment: no user HTML is ever assigned to a live element as markup. Building the
// DOM from marked's tokens by hand would drop the HTML step, but it would also be a sanitizer of
// our own; DOMPurify's allow-list is the reviewed one, and it stays the last word even if a
// marked upgrade renders something new.

import DOMPurify from "../vendor/purify.es.mjs";
import { Marked } from "../vendor/marked.esm.js";

/** Every element the renderer may put in the DOM (span: the mentions, added after). */
export const ALLOWED_TAGS = Object.freeze([
  "p", "br", "strong", "em", "del", "code", "pre", "blockquote", "ul", "ol", "li", "a",
]);
export const ALLOWED_ATTR = Object.freeze(["href", "start"]);
export const OUTPUT_TAGS = Object.freeze([...ALLOWED_TAGS, "span"]);
export const LINK_REL = "noopener noreferrer nofollow";
const SCHEMES = new Set(["http:", "https:", "mailto:"]);
// Deeper quotes and lists (on one line: "> - > - …") than anyone writes are cut to this depth:
// marked's cost grows with the square of the depth, and its recursion with it (2,000 ">" take
// ~50 ms on their own, 1,000 "> - " overflow the stack).
const MAX_DEPTH = 8;
// Unambiguous (spaces only before a marker): no backtracking blow-up on near misses.
const CONTAINER = String.raw`[ \t]*(?:>|(?:[-*+]|\d{1,9}[.)])(?=[ \t]))`;
const DEEP_RE = new RegExp(`^(?:${CONTAINER}){${MAX_DEPTH + 1},}`, "gm");
const CONTAINER_RE = new RegExp(CONTAINER, "g");
// More elements than a person writes in 4,000 characters ("*a" 2,000 times: 2,000 <em>) would
// cost the sanitizer and the layout tens of ms: such a message is shown as its text.
const MAX_TAGS = 1000;
// So would marked's emphasis matching on thousands of delimiters (a "*a*a*a…" bomb: ~30 ms
// cold on its own); such a text is shown as typed. Fenced code is not counted: a pasted program
// full of "*", "_" and "[" is never parsed for emphasis.
const MAX_DELIMITERS = 300;
const DELIMITER_RE = /[*_~[\]`]/g;
const FENCE_RE = /^ {0,3}(`{3,}|~{3,})(.*)$/; // CommonMark's fences (top level)

/** The markers outside fenced code blocks (one pass over the lines). A fence closes only as
 * CommonMark says (same character, at least as long, nothing after): a text must not make this
 * count believe in code that marked parses for emphasis. */
function delimiters(text) {
  let count = 0;
  let fence = null;
  for (const line of text.split("\n")) {
    const match = FENCE_RE.exec(line);
    if (fence === null && match && !(match[1][0] === "`" && match[2].includes("`"))) {
      fence = match[1];
    } else if (fence !== null) {
      if (match && match[1][0] === fence[0] && match[1].length >= fence.length
        && !match[2].trim()) fence = null;
    } else {
      count += line.match(DELIMITER_RE)?.length ?? 0;
    }
  }
  return count;
}

// `@username` as the server reads it (lambdas/services/messages.py MENTION_RE).
export const MENTION_RE = /(?<![\w@.+-])@([\w.+-]*[\w+-])/g;

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (char) => ESCAPES[char]);
}

/** The URL if it is http(s) or mailto (after the browser's own parsing), else null. */
export function safeHref(href) {
  try {
    const url = new URL(String(href));
    return SCHEMES.has(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

const marked = new Marked({ gfm: true, breaks: true, async: false });
marked.use({
  tokenizer: {
    // Not chat: "# " and "---" under a line stay as typed, and so do tables.
    heading: () => undefined,
    lheading: () => undefined,
    table: () => undefined,
  },
  renderer: {
    html: ({ text }) => escapeHtml(text),
    image: ({ raw }) => escapeHtml(raw),
    checkbox: ({ checked }) => (checked ? "[x] " : "[ ] "),
    // No class ("language-js"): the allow-list has no attributes for code.
    code: ({ text }) => `<pre><code>${escapeHtml(text.replace(/\n$/, ""))}\n</code></pre>\n`,
    link(token) {
      const href = safeHref(token.href);
      if (!href) return escapeHtml(token.raw);
      return `<a href="${escapeHtml(href)}">${this.parser.parseInline(token.tokens)}</a>`;
    },
  },
});

const purifier = DOMPurify(window);
purifier.addHook("afterSanitizeAttributes", (node) => {
  if (node.nodeName !== "A") return;
  const href = safeHref(node.getAttribute("href"));
  if (href) node.setAttribute("href", href);
  else node.removeAttribute("href");
  node.setAttribute("rel", LINK_REL);
  node.setAttribute("target", "_blank");
});
const PURIFY = {
  ALLOWED_TAGS: [...ALLOWED_TAGS],
  ALLOWED_ATTR: [...ALLOWED_ATTR],
  ALLOWED_URI_REGEXP: /^(?:https?|mailto):/i,
  ADD_URI_SAFE_ATTR: ["start"], // a number, not checked as a URL
  ALLOW_DATA_ATTR: false,
  ALLOW_ARIA_ATTR: false,
  KEEP_CONTENT: true,
  RETURN_DOM_FRAGMENT: true,
};

/** Wrap each @username in the fragment's text (not in code or links) in a span, `.me` when it
 * names the viewer. */
function mentionify(root, username) {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
    acceptNode: (node) => (node.parentElement?.closest("code, pre, a")
      ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT),
  });
  const found = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.data.includes("@")) found.push(node);
  }
  for (const node of found) {
    const text = node.data;
    const parts = document.createDocumentFragment();
    let last = 0;
    for (const match of text.matchAll(MENTION_RE)) {
      parts.append(text.slice(last, match.index));
      const span = document.createElement("span");
      span.className = match[1] === username ? "mention me" : "mention";
      span.textContent = match[0];
      parts.append(span);
      last = match.index + match[0].length;
    }
    if (last === 0) continue;
    parts.append(text.slice(last));
    node.replaceWith(parts);
  }
  return root;
}

function shallow(text) {
  return text.replace(DEEP_RE, (prefix) => prefix.match(CONTAINER_RE).slice(0, MAX_DEPTH).join(""));
}

/** The message's text as HTML from the subset (not sanitized yet: for tests and the purifier);
 * the text escaped in one paragraph if marked fails on it (it throws on what it cannot parse). */
export function markdownHtml(text) {
  const source = String(text ?? "");
  let html = null;
  try {
    if (delimiters(source) <= MAX_DELIMITERS) html = marked.parse(shallow(source));
  } catch {
    html = null;
  }
  // Every "<" of the text is escaped by now: each one left starts a tag.
  if (html === null || html.split("<", MAX_TAGS + 1).length > MAX_TAGS) {
    return `<p>${escapeHtml(source).replace(/\n/g, "<br>")}</p>`;
  }
  return html;
}

/** A message's text as a DocumentFragment of the allowed elements only. */
export function renderMarkdown(text, { viewer = {} } = {}) {
  const fragment = purifier.sanitize(markdownHtml(text), PURIFY);
  // Whitespace between blocks ("</p>\n<ul>") is marked's, not the user's: only blocks hold it.
  for (const parent of [fragment, ...fragment.querySelectorAll("blockquote, ul, ol")]) {
    for (const node of [...parent.childNodes]) {
      if (node.nodeType === Node.TEXT_NODE && !node.data.trim()) node.remove();
    }
  }
  return mentionify(fragment, viewer.username);
}
