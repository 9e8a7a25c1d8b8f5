"""Message ids are ULIDs whose text order is creation order."""

import time

from lambdas.ids import is_ulid, new_ulid, ulid_floor


def test_ids_sort_by_time_even_within_one_millisecond():
    """Ids made in the same millisecond, and later ones, sort in the order they were made."""
    moment = int(time.time() * 1000) + 60_000  # later than any id made so far in this process
    ids = [new_ulid(now_ms=moment) for _ in range(50)]
    ids += [new_ulid(now_ms=moment + 1) for _ in range(5)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(is_ulid(i) and len(i) == 26 for i in ids)


def test_is_ulid_rejects_other_strings():
    """Only 26 Crockford base32 characters are an id; keys and injections are not."""
    for value in [
        "",
        "01ARZ3NDEKTSV4RRFFQ69G5FA",
        "01ARZ3NDEKTSV4RRFFQ69G5FAVX",
        "u" * 26,
        None,
        5,
        "01ARZ3NDEKTSV4RRFFQ69G5FA!",
        "81ARZ3NDEKTSV4RRFFQ69G5FAV",
    ]:
        assert not is_ulid(value)
    assert is_ulid("01ARZ3NDEKTSV4RRFFQ69G5FAV")


def test_ids_in_the_past_keep_their_time():
    """An id made for an explicit earlier moment sorts there, between that moment's bounds."""
    moment = 1_700_000_000_000
    old = new_ulid(now_ms=moment)
    assert ulid_floor(moment) <= old < ulid_floor(moment + 1) < new_ulid()
