// The picker's emoji check (static/chat/emoji.js) agrees with the server's
// (lambdas/protocol.py emoji_check): the table below is what emoji_check answers.
import assert from "node:assert/strict";
import { test } from "node:test";

import { COMMON_EMOJI, isOneEmoji } from "../../static/chat/emoji.js";

const SERVER_SAYS = [
  ["\ud83d\udc4d", true],
  ["\u2764\ufe0f", true],
  ["\ud83c\udf89", true],
  ["\ud83c\uddeb\ud83c\uddf7", true],
  ["1\ufe0f\u20e3", true],
  ["#\ufe0f\u20e3", true],
  ["\ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67\u200d\ud83d\udc66", true],
  ["\ud83c\udff4\udb40\udc67\udb40\udc62\udb40\udc73\udb40\udc63\udb40\udc74\udb40\udc7f", true],
  ["\ud83d\udc4d\ud83c\udffd", true],
  ["\u2705", true],
  ["\u2615", true],
  ["\u00a9\ufe0f", true],
  ["\u2122", true],
  ["\ud83e\udd84", true],
  ["\ud83c\udff3\ufe0f\u200d\ud83c\udf08", true],
  ["\ud83e\uddd1\ud83c\udffd\u200d\ud83d\udcbb", true],
  ["\u2605", true],
  ["lol", false],
  ["\ud83d\udc4d\ud83d\udc4d", false],
  ["", false],
  ["a", false],
  ["1", false],
  ["\ud83c\uddeb", false],
  ["\ud83c\uddeb\ud83c\uddf7\ud83c\udde9\ud83c\uddea", false],
  [" \ud83d\udc4d", false],
  ["\ud83d\udc4d\u200d", false],
  ["\u200d", false],
  ["x\u20e3", false],
  ["\u20ac", false],
  ["\ud83d\udc4d\ud83d\udc4d\ud83d\udc4d\ud83d\udc4d\ud83d\udc4d\ud83d\udc4d\ud83d\udc4d\ud83d\udc4d\ud83d\udc4d\ud83d\udc4d\ud83d\udc4d\ud83d\udc4d\ud83d\udc4d\ud83d\udc4d\ud83d\udc4d\ud83d\udc4d\ud83d\udc4d", false],
];

test("isOneEmoji answers as the server's emoji_check", () => {
  for (const [value, accepted] of SERVER_SAYS) {
    assert.equal(isOneEmoji(value), accepted, JSON.stringify(value));
  }
});

test("every emoji the picker offers is one the server accepts", () => {
  for (const emoji of COMMON_EMOJI) assert.ok(isOneEmoji(emoji), emoji);
});

test("what is not a string is not an emoji", () => {
  for (const value of [undefined, null, 1, ["👍"], {}]) assert.equal(isOneEmoji(value), false);
});
