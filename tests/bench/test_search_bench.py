"""`make bench`'s search section (bench/search.py) on a small index: every kind of query finds
what it asks for, phrases are really in the messages, and the report says each figure."""

from __future__ import annotations

import random

import pytest

from bench import search


def test_the_generated_words_follow_zipfs_law_and_are_distinct():
    rng = random.Random(1)
    words = search.vocabulary(rng)
    corpus = search.Corpus(words)
    counts: dict[str, int] = {}
    for _ in range(3000):
        for word in corpus.text(rng).split():
            counts[word] = counts.get(word, 0) + 1
    assert len(set(words)) == search.VOCABULARY
    assert counts.get(words[0], 0) > 10 * counts.get(words[500], 0)


def test_a_small_run_times_every_kind_of_query_and_reports_it():
    result = search.run(count=5_000, lag=False, log=lambda message: None)
    assert result["sizes"]["rows"] == 5_000
    assert result["sizes"]["gin"] > 0
    for kind, row in result["queries"].items():
        assert row["queries"] > 0 and 0 <= row["p50"] <= row["p95"] <= row["max"], kind
        assert row["found"] > 0, kind  # each kind of query finds messages: a phrase too
    text = search.report(result)
    assert "## Search" in text and "per million messages" in text
    assert text.count("| p95 < 200 ms |") == len(result["queries"])


@pytest.mark.server
def test_the_lag_run_sends_through_the_gateway_and_finds_every_message_indexed():
    """...and leaves the process as it found it: its stack is gone when it returns, and the
    tests after it must not be pointed at its keys or its dynalite."""
    import os

    from lambdas.config import get_config

    environment, config = dict(os.environ), get_config()
    lag = search.lag_run(seconds=1, log=lambda message: None)
    assert dict(os.environ) == environment
    assert get_config() == config
    assert lag["sent"] == lag["acknowledged"] == lag["indexed"] == search.LAG_RATE
    assert 0 < lag["p50"] <= lag["p99"] <= lag["max"]
    assert "| 20 | 20 | 20 |" in "\n".join(search.lag_report(lag))
