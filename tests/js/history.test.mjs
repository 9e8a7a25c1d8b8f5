// The history pager (static/chat/history.js) on mocked timers: a request refused `unavailable`
// goes again by itself, once, after a wait; a new socket asks at once.
import assert from "node:assert/strict";
import { afterEach, beforeEach, mock, test } from "node:test";

import { HistoryPager } from "../../static/chat/history.js";

function pager() {
  const sent = [];
  const messages = { newestId: null, oldestId: null, setHistoryState() {}, setBusy() {} };
  return { sent, pager: new HistoryPager((frame) => (sent.push(frame), true), messages) };
}

beforeEach(() => mock.timers.enable({ apis: ["setTimeout", "Date"] }));
afterEach(() => mock.timers.reset());

test("a refused newest page is asked for again after a wait, once", () => {
  const { pager: history, sent } = pager();
  history.opened();
  assert.deepEqual(sent, [{ action: "history", limit: 50 }]);
  history.refused();
  mock.timers.tick(2_999);
  assert.equal(sent.length, 1);
  mock.timers.tick(1);
  assert.equal(sent.length, 2);
  mock.timers.tick(60_000);
  assert.equal(sent.length, 2); // in flight again: nothing more until it is answered
});

test("a new socket asks at once, and the refused request's wait is dropped", () => {
  const { pager: history, sent } = pager();
  history.opened();
  history.refused();
  history.opened();
  assert.equal(sent.length, 2);
  mock.timers.tick(3_000);
  assert.equal(sent.length, 2);
});
