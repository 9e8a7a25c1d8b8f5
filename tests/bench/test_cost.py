"""`make cost`'s arithmetic (bench/cost.py): a month from a metered run, by hand."""

from __future__ import annotations

import pytest

from bench.cost import Run, Scenario, difference, month, provisioned


def reading(
    messages=0.0, requests=0.0, gb_seconds=0.0, writes=0.0, reads=0.0, log_bytes=0.0
) -> dict:
    return {
        "apigateway": {
            "messages": messages,
            "messages_in": 0.0,
            "messages_out": messages,
            "connection_minutes": 0.0,
        },
        "lambda": {
            "requests": requests,
            "functions": {
                "F": {"requests": requests, "gb_seconds": gb_seconds, "architecture": "x86_64"}
            },
        },
        "dynamodb": {"requests": 0.0, "read_units": reads, "write_units": writes},
        "cloudwatch_logs": {"events": 0.0, "bytes": log_bytes},
    }


def test_a_difference_of_two_readings_keeps_each_functions_architecture():
    before, after = reading(messages=10, requests=2, gb_seconds=1.0), reading(30, 5, 4.0, 6, 2)
    got = difference(after, before)
    assert got["apigateway"]["messages"] == 20
    assert got["lambda"]["functions"]["F"] == {
        "requests": 3,
        "gb_seconds": 3.0,
        "architecture": "x86_64",
    }
    assert got["dynamodb"] == {"requests": 0.0, "read_units": 2, "write_units": 6}


def test_a_month_is_room_hours_plus_openings_hand_overs_and_minutes_by_the_clock():
    """2 rooms metered for half an hour: 1,000 messages; each opening 3, each hand-over 1 and
    each closing 2. A scenario of 100 people in rooms of 50 online 8 hours for 30 days: 2 rooms
    × 240 hours at 1,000 per room-hour, 100 people × 30 days opening once a day, and each
    day's 8 hours on 5 sockets of 110 minutes at most: 4 hand-overs."""
    run = Run(
        rooms=2,
        room_size=50,
        page_hours=0.5,
        per_open=reading(messages=3),
        per_hand_over=reading(messages=1),
        per_close=reading(messages=2),
        steady=reading(messages=1_000, writes=40),
        sent=0,
        errors=0,
        tables=3,
    )
    scenario = Scenario("test", daily_users=100, room_size=50)
    got = month(run, scenario)
    opens = 100 * 30
    expected = 2 * 240 * 1_000 + opens * (3 + 2) + opens * 4 * 1
    assert got["apigateway"]["messages"] == pytest.approx(expected)
    assert got["dynamodb"]["write_units"] == pytest.approx(2 * 240 * 40)
    assert got["apigateway"]["connection_minutes"] == 100 * 8 * 60 * 30
    assert got["lambda"]["functions"]["F"]["architecture"] == "x86_64"


def test_provisioned_capacity_follows_the_online_hours_and_keeps_a_floor():
    """72,000,000 write units in 8 × 30 online hours are 83.3 a second: 119.0 WCU at 70 %
    for 240 hours, the floor of 3 units the other 490 hours. Reads below the floor take it."""
    scenario = Scenario("test", daily_users=1, room_size=1)
    month_reading = reading(writes=72_000_000, reads=1_000)
    writes = (72_000_000 / (240 * 3600) / 0.7 * 240 + 3 * 490) * 0.00065
    reads = 3 * 730 * 0.00013
    assert provisioned(month_reading, scenario, tables=3) == pytest.approx(writes + reads)


def test_the_index_functions_requests_are_data_api_requests_and_the_stage_has_a_floor():
    """Each indexing invocation makes one Data API request; a stage's fixed costs (NAT, secret,
    storage) come on top of any traffic, the database's least capacity too while awake."""
    from bench.prices import AURORA_AWAKE, PRICES, STAGE_FIXED, bill

    one = reading(requests=2e6)
    one["lambda"]["functions"]["IndexFunction"] = {
        "requests": 1e6,
        "gb_seconds": 0.0,
        "architecture": "x86_64",
    }
    items = {item.name: item for item in bill(one)}
    assert items["RDS Data API requests (search index)"].amount == 1e6
    assert items["RDS Data API requests (search index)"].dollars == pytest.approx(0.35)
    assert PRICES["rds_data_api_requests"].of(1e6) == pytest.approx(0.35)
    assert sum(d for _, d, _ in STAGE_FIXED) == pytest.approx(37.0)
    assert AURORA_AWAKE[1] == pytest.approx(43.80)


def test_an_images_cost_is_its_requests_storage_transfer_and_thumbnail_run():
    """A 3 MB photo with a 30 KB thumbnail, kept a month, thumbnail seen 50 times and opened 5
    times: the figure README's *What it costs* states, transfer out most of it."""
    from bench.prices import image_dollars

    lines = image_dollars()
    assert lines["S3 requests"] == pytest.approx(3 * 0.005 / 1000 + 56 * 0.0004 / 1000)
    assert lines["S3 storage"] == pytest.approx((3 * 2**20 + 30 * 2**10) / 2**30 * 0.023)
    assert lines["total"] == pytest.approx(0.00156, abs=0.00001)
    assert lines["transfer out"] / lines["total"] > 0.9
