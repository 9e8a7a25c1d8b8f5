// The search page module's pure parts (static/chat/search.js): snippets become text and <mark>
// elements (never HTML), each error code a sentence for the user, the status line.
import assert from "node:assert/strict";
import { test } from "node:test";

import { resultsSummary, searchError, snippetInto } from "../../static/chat/search.js";

class FakeNode {
  constructor(tag, text = "") {
    this.tag = tag;
    this.textContent = text;
    this.children = [];
    this.ownerDocument = fakeDocument;
  }

  replaceChildren(...nodes) {
    this.children = nodes;
  }
}

const fakeDocument = {
  createElement: (tag) => new FakeNode(tag),
  createTextNode: (text) => new FakeNode("#text", text),
};

test("a snippet's matched words become marks and everything else stays text", () => {
  const element = snippetInto(new FakeNode("span"), [
    { text: "the ", mark: false },
    { text: "deploy", mark: true },
    { text: " <img src=x onerror=alert(1)>", mark: false },
  ]);
  assert.deepEqual(
    element.children.map((node) => [node.tag, node.textContent]),
    [["#text", "the "], ["mark", "deploy"], ["#text", " <img src=x onerror=alert(1)>"]],
  );
});

test("a snippet that is not a list of segments leaves the element empty", () => {
  for (const bad of [null, "text", { text: "x" }]) {
    assert.deepEqual(snippetInto(new FakeNode("span"), bad).children, []);
  }
});

test("each error code reads as a sentence that says what to do", () => {
  assert.match(searchError(400, { error: "query_too_long", limit: 500 }), /at most 500 characters/);
  assert.equal(searchError(400, { error: "bad_query", message: "before: takes a date" }), "before: takes a date");
  assert.match(searchError(429, { error: "rate_limited", retry_after: 12.2 }), /try again in 13 s/);
  assert.match(searchError(401, { error: "not_authenticated" }), /log in again/);
  assert.match(searchError(0, null), /check your connection/);
  assert.match(searchError(500, null), /Search failed \(500\)/);
});

test("the status line counts results and says when there are none", () => {
  assert.equal(resultsSummary(0, false), "No results");
  assert.equal(resultsSummary(1, false), "1 result");
  assert.equal(resultsSummary(20, true), "20 results shown, more below");
});
