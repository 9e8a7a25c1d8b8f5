"""The bill of a meter reading, computed by hand (bench/prices.py's list prices)."""

from __future__ import annotations

import pytest

from bench.prices import bill, total


def reading(**overrides) -> dict:
    base = {
        "apigateway": {"messages": 4, "connection_minutes": 30.0},
        "lambda": {
            "requests": 7,
            "functions": {
                "SendMessageFunction": {"gb_seconds": 0.05, "architecture": "x86_64"},
                "PingFunction": {"gb_seconds": 0.02, "architecture": "arm64"},
            },
        },
        "dynamodb": {"write_units": 6.0, "read_units": 3.5},
    }
    return base | overrides


def test_one_reading_scaled_to_a_million_times():
    items = {item.name: item for item in bill(reading(), scale=1e6)}
    assert items["API Gateway messages"].dollars == pytest.approx(4.00)  # 4 M × $1/M
    assert items["API Gateway connection minutes"].dollars == pytest.approx(7.50)  # 30 M × $0.25/M
    assert items["Lambda requests"].dollars == pytest.approx(1.40)  # 7 M × $0.20/M
    assert items["Lambda duration (x86_64)"].dollars == pytest.approx(50_000 * 0.0000166667)
    assert items["Lambda duration (arm64)"].dollars == pytest.approx(20_000 * 0.0000133334)
    assert items["DynamoDB writes"].dollars == pytest.approx(3.75)  # 6 M × $0.625/M
    assert items["DynamoDB reads"].dollars == pytest.approx(0.4375)  # 3.5 M × $0.125/M
    assert total(list(items.values())) == pytest.approx(
        4.00 + 7.50 + 1.40 + 0.8333 + 0.2667 + 3.75 + 0.4375, abs=1e-3
    )


def test_messages_past_a_billion_a_month_cost_less():
    over = reading(apigateway={"messages": 1.5e9, "connection_minutes": 0.0})
    messages = next(item for item in bill(over) if item.name == "API Gateway messages")
    assert messages.dollars == pytest.approx(1_000 + 400)  # 1 B at $1/M, 0.5 B at $0.80/M


def test_log_lines_are_billed_by_the_gibibyte_ingested():
    logged = reading(cloudwatch_logs={"events": 10, "bytes": 1024})  # 1 KiB, a million times
    items = {item.name: item for item in bill(logged, scale=2**20)}
    assert items["CloudWatch Logs ingested"].dollars == pytest.approx(0.50)  # 1 GiB × $0.50
    assert "CloudWatch Logs ingested" not in {item.name for item in bill(reading())}
