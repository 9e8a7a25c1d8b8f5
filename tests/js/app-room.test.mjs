// The composer's placeholder (static/chat/app-room.js composerPlaceholder): one line, whatever
// the width, with the hint only where it fits.
import assert from "node:assert/strict";
import { test } from "node:test";

import { composerPlaceholder } from "../../static/chat/app-room.js";

/** A box `n` characters wide, each character one unit. */
const width = (n) => (text) => [...text].length <= n;

test("a wide box says how to send", () => {
  assert.equal(
    composerPlaceholder("#general", width(200)),
    "Message #general (Enter sends, Shift+Enter adds a line)",
  );
});

test("a phone's box says only where the message goes", () => {
  assert.equal(composerPlaceholder("#general", width(30)), "Message #general");
});

test("a name too long for the box is cut with an ellipsis, never wrapped", () => {
  const shown = composerPlaceholder("#quarterly-planning-and-budget-review", width(30));
  assert.equal(shown, "Message #quarterly-planning-a…");
  assert.equal([...shown].length, 30);
  // Nothing left to say past "Message ": the name whole, for CSS to keep on one line
  assert.equal(composerPlaceholder("#quarterly", width(5)), "Message #quarterly");
});
