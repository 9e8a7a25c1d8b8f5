"""DynamoDB's read and write units for what the gateway relays, as DynamoDB bills them.

The base table's units are dynalite's `ConsumedCapacity` (DynamoDB's rules: 1 KB write units,
4 KB read units, an eventually consistent read at half, a write sized by the larger of the item
before and after it). dynalite does not count what DynamoDB adds to a write, so it is computed
here from the item as it was before the write and as it is after:

- a global secondary index is written when the item has (or had) all of the index's key
  attributes: a new index entry or a removed one costs the entry's size in write units; an entry
  whose index keys change costs both (a delete and a put); one whose projected attributes change
  costs the larger of its two sizes; one that does not change costs nothing;
- a write refused by its condition still costs the write units of the item as it is (1 if none).

Sizes follow DynamoDB's documented item size: attribute names plus values (strings and binaries
by their bytes, numbers about one byte per two significant digits plus one, lists and maps 3
bytes plus one per element).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

KB = 1024


def value_size(value: dict) -> int:
    """The size DynamoDB counts for one attribute value (`{"S": "…"}` and so on)."""
    (kind, data), *_ = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "B":
        return len(data) * 3 // 4  # base64 in the JSON protocol
    if kind == "N":
        return _number_size(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in data)
    if kind == "NS":
        return sum(_number_size(n) for n in data)
    if kind == "BS":
        return sum(len(b) * 3 // 4 for b in data)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in data)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in data.items())
    return 0


def _number_size(text: str) -> int:
    try:
        digits = Decimal(text).normalize().as_tuple().digits
    except InvalidOperation:
        return 1
    significant = len(digits) if any(digits) else 1
    return 1 + math.ceil(significant / 2)


def item_size(item: dict) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / KB))


@dataclass(frozen=True)
class Index:
    """A global secondary index as DescribeTable describes it."""

    name: str
    keys: tuple[str, ...]  # its partition key and sort key
    table_keys: tuple[str, ...]  # the table's: every index entry carries them
    projection: str  # ALL, KEYS_ONLY or INCLUDE
    include: tuple[str, ...] = ()

    @classmethod
    def of(cls, description: dict, table_keys: tuple[str, ...]) -> Index:
        projection = description.get("Projection") or {}
        return cls(
            name=description["IndexName"],
            keys=tuple(k["AttributeName"] for k in description["KeySchema"]),
            table_keys=table_keys,
            projection=projection.get("ProjectionType", "ALL"),
            include=tuple(projection.get("NonKeyAttributes") or ()),
        )

    def entry(self, item: dict | None) -> dict | None:
        """The item's entry in this index, or None if it has none (a key attribute missing)."""
        if item is None or any(key not in item for key in self.keys):
            return None
        if self.projection == "ALL":
            return item
        kept = {*self.keys, *self.table_keys}
        if self.projection == "INCLUDE":
            kept.update(self.include)
        return {name: value for name, value in item.items() if name in kept}

    def write_units(self, before: dict | None, after: dict | None) -> int:
        """What writing the item from `before` to `after` costs this index."""
        old, new = self.entry(before), self.entry(after)
        if old is None and new is None:
            return 0
        if old is None:
            return write_units(item_size(new))
        if new is None:
            return write_units(item_size(old))
        if any(old[key] != new[key] for key in self.keys):
            return write_units(item_size(old)) + write_units(item_size(new))
        if old == new:
            return 0
        return write_units(max(item_size(old), item_size(new)))


def table_keys_of(description: dict) -> tuple[str, ...]:
    return tuple(k["AttributeName"] for k in description["KeySchema"])


def indexes_of(description: dict) -> tuple[Index, ...]:
    """A DescribeTable answer's `Table`: its global secondary indexes."""
    keys = table_keys_of(description)
    return tuple(Index.of(d, keys) for d in description.get("GlobalSecondaryIndexes") or ())


# DynamoDB bills storage as each item's size plus 100 bytes, and each index entry's likewise
# (dynalite's TableSizeBytes is always 0, so the local stack counts it from the items).
ITEM_OVERHEAD = 100


def stored_bytes(description: dict, items: list[dict]) -> dict[str, int]:
    """What a table's items occupy as DynamoDB bills it: the table's own entry and each
    global secondary index's, by name (`description`: DescribeTable's `Table`)."""
    stored = {description["TableName"]: sum(item_size(i) + ITEM_OVERHEAD for i in items)}
    for index in indexes_of(description):
        entries = (index.entry(item) for item in items)
        stored[f"{description['TableName']}/{index.name}"] = sum(
            item_size(e) + ITEM_OVERHEAD for e in entries if e is not None
        )
    return stored
