// Message search on the chat page: the search field in the header (`GET /api/search/?q=…`), its
// results over the room (a list of links, the matched words as <mark> elements built with
// textContent: the snippet comes as {text, mark} segments, never as HTML), and opening a result
// in its room at that message by paging back with the room's own history requests.
//
// Enter searches, Escape closes the results and gives focus back to the field; "Load more"
// follows `next_cursor`. A search overtaken by a newer one is ignored when it answers.

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** What to tell the user for a failed search: the server's error (`{error, message, ...}`). */
export function searchError(status, body) {
  const code = body?.error;
  if (code === "query_too_long") {
    return `A search has at most ${Number(body.limit) || 500} characters: shorten it.`;
  }
  if (code === "bad_query") return String(body.message || "That search cannot be read.");
  if (code === "rate_limited") {
    const seconds = Math.max(1, Math.ceil(Number(body.retry_after) || 1));
    return `Too many searches at once: try again in ${seconds} s.`;
  }
  if (code === "not_authenticated") return "Your session has ended: log in again to search.";
  if (code === "invalid_page_token") return "Those results are out of date: search again.";
  if (status === 0) return "Search could not reach the server: check your connection.";
  return `Search failed (${status}): try again shortly.`;
}

/** The results' status line. */
export function resultsSummary(count, more) {
  if (count === 0) return "No results";
  if (more) return `${count} results shown, more below`;
  return count === 1 ? "1 result" : `${count} results`;
}

/** Fill `element` with a snippet: plain text, and each matched word in a <mark>. */
export function snippetInto(element, segments) {
  const doc = element.ownerDocument;
  const nodes = (Array.isArray(segments) ? segments : []).map((segment) => {
    const text = String(segment?.text ?? "");
    if (segment?.mark !== true) return doc.createTextNode(text);
    const mark = doc.createElement("mark");
    mark.textContent = text;
    return mark;
  });
  element.replaceChildren(...nodes);
  return element;
}

/**
 * Bring message `id` into a room's list (`state`: its `list` element and `pager`, a
 * HistoryPager): page back with `before` requests until it is held (at most `maxPages`), then
 * scroll it to the middle, mark it and focus it. Resolves true when found, false when the room
 * has no such message (deleted since, or further back than `maxPages`).
 */
export function revealMessage(state, id, { maxPages = 40, giveUpMs = 30_000 } = {}) {
  const { list, pager } = state;
  return new Promise((resolve) => {
    let pages = 0;
    let done = false;
    const find = () => [...list.querySelectorAll("li.message[data-id]")].find((li) => li.dataset.id === id);
    const finish = (item) => {
      if (done) return;
      done = true;
      observer.disconnect();
      clearTimeout(timer);
      if (item) {
        for (const old of list.querySelectorAll(".search-target")) old.classList.remove("search-target");
        item.classList.add("search-target");
        item.scrollIntoView({ block: "center" });
        item.focus({ preventScroll: true });
      }
      resolve(Boolean(item));
    };
    const attempt = () => {
      const item = find();
      if (item) return finish(item);
      if (!pager.loaded || pager.inFlight) return undefined; // its answer comes as a change
      if (!pager.hasOlder || pages >= maxPages) return finish(null);
      pages += 1;
      pager.wantOlder();
      return undefined;
    };
    // Every page (and the "loading" line above them) changes the list: look again each time.
    const observer = new MutationObserver(attempt);
    observer.observe(list, { childList: true, subtree: true });
    const timer = setTimeout(() => finish(null), giveUpMs); // the room never answered
    attempt();
  });
}

export class MessageSearch {
  /**
   * @param {HTMLFormElement} form `role=search`, holding `input[type=search]`
   * @param {HTMLElement} panel the results: `.search-status`, `.search-list`, `.search-more`,
   *   `.search-close`, `.search-query`
   * @param {object} options
   * @param {(result: object) => void} options.open a result chosen: open its room at it
   * @param {string} [options.url] the search endpoint
   * @param {typeof fetch} [options.fetch]
   */
  constructor(form, panel, { open, url = "/api/search/", fetch: fetchImpl = globalThis.fetch }) {
    this.form = form;
    this.input = form.querySelector("input[type=search]");
    this.panel = panel;
    this.status = panel.querySelector(".search-status");
    this.list = panel.querySelector(".search-list");
    this.more = panel.querySelector(".search-more");
    this.open = open;
    this.url = url;
    this.fetch = (...args) => fetchImpl(...args); // unbound: window.fetch refuses another `this`
    this.serial = 0; // the newest search's number: older answers are dropped
    this.query = "";
    this.cursor = null;
    this.results = [];
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.search(this.input.value);
    });
    this.more.addEventListener("click", () => this.load({ append: true }));
    panel.querySelector(".search-close").addEventListener("click", () => this.close());
    const escape = (event) => {
      if (event.key !== "Escape" || this.panel.hidden) return;
      event.preventDefault(); // the phone panels' Escape must not also act
      this.close();
    };
    this.input.addEventListener("keydown", escape);
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "ArrowDown" && !this.panel.hidden) {
        const first = this.list.querySelector("a");
        if (first) {
          event.preventDefault();
          first.focus();
        }
      }
    });
    panel.addEventListener("keydown", escape);
  }

  /** Run a search from the first page (an empty field closes the results). */
  search(text) {
    const query = String(text).trim();
    if (!query) {
      this.close({ focus: false });
      return Promise.resolve();
    }
    this.query = query;
    this.cursor = null;
    this.results = [];
    return this.load({ append: false });
  }

  async load({ append }) {
    const serial = ++this.serial;
    this.show();
    this.panel.querySelector(".search-query").textContent = this.query;
    this.panel.setAttribute("aria-busy", "true");
    this.more.hidden = true;
    if (!append) {
      this.list.replaceChildren();
      this.say("Searching…", "busy");
    }
    const params = new URLSearchParams({ q: this.query });
    if (append && this.cursor) params.set("cursor", this.cursor);
    let status = 0;
    let body = null;
    try {
      const response = await this.fetch(`${this.url}?${params}`, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      status = response.status;
      body = await response.json().catch(() => null);
    } catch {
      status = 0;
    }
    if (serial !== this.serial) return; // a newer search owns the panel
    this.panel.removeAttribute("aria-busy");
    if (status !== 200 || !Array.isArray(body?.results)) {
      this.say(searchError(status, body), "error");
      if (append && this.cursor) this.more.hidden = false;
      return;
    }
    const first = this.results.length;
    this.results.push(...body.results);
    this.cursor = typeof body.next_cursor === "string" ? body.next_cursor : null;
    this.list.append(...body.results.map((result, index) => this.item(result, first + index)));
    this.more.hidden = !this.cursor;
    this.say(resultsSummary(this.results.length, Boolean(this.cursor)), this.results.length ? "" : "empty");
    if (append) this.list.children[first]?.querySelector("a")?.focus();
  }

  item(result, index) {
    const item = document.createElement("li");
    item.className = "search-hit";
    const link = document.createElement("a");
    // Opened in place on a click; in a new tab, the room's page opens at it (chat.js).
    const url = new URL(String(result.url || "/"), window.location.href);
    url.searchParams.set("message", String(result.thread || result.message_id));
    link.href = url.pathname + url.search;
    link.dataset.index = String(index);
    const where = document.createElement("span");
    where.className = "search-where";
    where.textContent = String(result.room_label || result.room || "");
    if (result.thread) where.textContent += " · in a thread";
    const who = document.createElement("span");
    who.className = "search-who";
    who.textContent = String(result.username || "unknown");
    const when = document.createElement("time");
    when.className = "search-when";
    const sent = new Date(result.sent_at);
    if (!Number.isNaN(sent.getTime())) {
      when.dateTime = sent.toISOString();
      when.textContent = dateFormat.format(sent);
    }
    const meta = document.createElement("span");
    meta.className = "search-meta";
    meta.append(who, " ", where, " ", when); // the spaces for screen readers; CSS spaces them
    const snippet = snippetInto(document.createElement("span"), result.snippet);
    snippet.className = "search-snippet";
    link.append(meta, snippet);
    link.addEventListener("click", (event) => {
      if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
      event.preventDefault(); // opened in place, at the message
      this.close({ focus: false });
      this.open(result);
    });
    item.append(link);
    return item;
  }

  say(text, state = "") {
    this.status.textContent = text;
    this.status.dataset.state = state;
  }

  show() {
    const header = this.form.closest("header");
    if (header) this.panel.style.setProperty("--search-top", `${header.offsetHeight}px`);
    this.panel.hidden = false;
  }

  /** Close the results; focus goes back to the field unless a result is being opened. */
  close({ focus = true } = {}) {
    this.serial += 1; // an answer still coming is not shown
    this.panel.hidden = true;
    if (focus) this.input.focus();
  }
}
