"""Message ids are ULIDs whose text order is creation order."""

from lambdas.ids import is_ulid, new_ulid


def test_ids_sort_by_time_even_within_one_millisecond():
    """Ids made in the same millisecond, and later ones, sort in the order they were made."""
    ids = [new_ulid(now_ms=1_700_000_000_000) for _ in range(50)]
    ids += [new_ulid(now_ms=1_700_000_000_001) for _ in range(5)]
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
