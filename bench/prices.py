"""AWS list prices for what the local meter counts (emulator/meter.py), and the bill they make.

us-east-1, on-demand, without free tiers or discounts, as published on the pricing pages below
on PRICED_ON (no AWS account or network is reachable here: re-read the pages before relying on
a figure, and change the date with the prices). `bill()` turns a meter reading, scaled to a
month, into dollars per line item.
"""

from __future__ import annotations

from dataclasses import dataclass

PRICED_ON = "2026-12-06"
REGION = "us-east-1"


@dataclass(frozen=True)
class Price:
    dollars: float
    per: float  # units the price is for
    unit: str
    source: str

    def of(self, amount: float) -> float:
        return amount / self.per * self.dollars


API_GATEWAY = "https://aws.amazon.com/api-gateway/pricing/"
LAMBDA = "https://aws.amazon.com/lambda/pricing/"
DYNAMODB = "https://aws.amazon.com/dynamodb/pricing/on-demand/"
CLOUDWATCH = "https://aws.amazon.com/cloudwatch/pricing/"
AURORA = "https://aws.amazon.com/rds/aurora/pricing/"
VPC = "https://aws.amazon.com/vpc/pricing/"
SECRETS_MANAGER = "https://aws.amazon.com/secrets-manager/pricing/"
S3 = "https://aws.amazon.com/s3/pricing/"

PRICES = {
    # WebSocket APIs: the first billion messages a month (32 KB units); $0.80 after that.
    "apigateway_messages": Price(1.00, 1e6, "messages", API_GATEWAY),
    "apigateway_messages_after_1b": Price(0.80, 1e6, "messages", API_GATEWAY),
    "apigateway_connection_minutes": Price(0.25, 1e6, "connection minutes", API_GATEWAY),
    "lambda_requests": Price(0.20, 1e6, "requests", LAMBDA),
    # Duration, first tier (6 billion GB-seconds a month x86_64, 7.5 billion arm64).
    "lambda_gb_seconds_x86_64": Price(0.0000166667, 1, "GB-seconds", LAMBDA),
    "lambda_gb_seconds_arm64": Price(0.0000133334, 1, "GB-seconds", LAMBDA),
    "dynamodb_write_units": Price(0.625, 1e6, "write request units", DYNAMODB),
    "dynamodb_read_units": Price(0.125, 1e6, "read request units", DYNAMODB),
    # Storage, Standard table class (the first 25 GB a month are free: no free tier here).
    "dynamodb_storage_gb_month": Price(0.25, 2**30, "byte-months", DYNAMODB),
    # Logs ingested, Standard log class (vended Lambda logs are tiered past 10 TB a month).
    "cloudwatch_logs_gb": Price(0.50, 2**30, "bytes of log events", CLOUDWATCH),
    # The search index's one write per change, through the Data API (the first billion a month).
    "rds_data_api_requests": Price(0.35, 1e6, "requests", AURORA),
    # Files in messages (issue 27): S3 Standard. POST, PUT, COPY and PutObjectTagging are
    # PUT-class; DELETE and DeleteObjectTagging are free; the first 100 GB out a month are free
    # (no free tier here).
    "s3_put_requests": Price(0.005, 1000, "PUT, POST requests", S3),
    "s3_get_requests": Price(0.0004, 1000, "GET requests", S3),
    "s3_storage_gb_month": Price(0.023, 2**30, "byte-months", S3),
    "s3_transfer_out_gb": Price(0.09, 2**30, "bytes out to the internet", S3),
}
BILLION = 1e9

DYNAMODB_PROVISIONED = "https://aws.amazon.com/dynamodb/pricing/provisioned/"
EC2 = "https://aws.amazon.com/ec2/pricing/on-demand/"
ELB = "https://aws.amazon.com/elasticloadbalancing/pricing/"
ELASTICACHE = "https://aws.amazon.com/elasticache/pricing/"
EBS = "https://aws.amazon.com/ebs/pricing/"
HOURS_A_MONTH = 730  # as AWS's pricing pages count a month

# Provisioned capacity, for the comparison with on-demand (COST.md).
PROVISIONED = {
    "write_capacity_unit_hour": Price(0.00065, 1, "WCU-hours", DYNAMODB_PROVISIONED),
    "read_capacity_unit_hour": Price(0.00013, 1, "RCU-hours", DYNAMODB_PROVISIONED),
}

# The always-on alternative (issue 24): Django Channels on a pair of small instances behind a
# load balancer, with Redis as the channel layer. The site's database is left out, as it is
# from the serverless bill: both designs need it.
ALWAYS_ON = (
    ("2 × EC2 t4g.small (2 vCPU, 2 GiB), all month", 2 * 0.0168 * HOURS_A_MONTH, EC2),
    ("2 × 8 GB gp3 volumes", 2 * 8 * 0.08, EBS),
    ("Application Load Balancer: the hour and 1 LCU", (0.0225 + 0.008) * HOURS_A_MONTH, ELB),
    ("ElastiCache cache.t4g.micro (Redis channel layer)", 0.016 * HOURS_A_MONTH, ELASTICACHE),
)


# A deployed stage's own, whatever its traffic (DEPLOY.md, The database): the VPC's NAT gateway
# and its address, the database's secret and storage; and Aurora Serverless v2's least capacity
# while awake (0 ACUs, storage only, while paused).
STAGE_FIXED = (
    ("NAT gateway and its public IPv4 address", (0.045 + 0.005) * HOURS_A_MONTH, VPC),
    ("the database's secret (Secrets Manager)", 0.40, SECRETS_MANAGER),
    ("Aurora storage, 1 GB (Aurora Standard)", 0.10, AURORA),
)
AURORA_AWAKE = ("Aurora Serverless v2 awake all month, 0.5 ACU", 0.5 * 0.12 * HOURS_A_MONTH, AURORA)


@dataclass(frozen=True)
class LineItem:
    name: str
    amount: float
    unit: str
    dollars: float


def api_messages_dollars(messages: float) -> float:
    """API Gateway's WebSocket messages, tiered: the first billion a month, then the rest."""
    first = min(messages, BILLION)
    return PRICES["apigateway_messages"].of(first) + PRICES["apigateway_messages_after_1b"].of(
        messages - first
    )


def bill(reading: dict, *, scale: float = 1.0) -> list[LineItem]:
    """Line items for a meter reading (`GET /@meter`, or the difference of two) multiplied by
    `scale` (e.g. a month over the metered time)."""
    api, functions, dynamodb = reading["apigateway"], reading["lambda"], reading["dynamodb"]
    messages = api["messages"] * scale
    items = [
        LineItem("API Gateway messages", messages, "messages", api_messages_dollars(messages)),
        _item(
            "API Gateway connection minutes",
            api["connection_minutes"] * scale,
            "apigateway_connection_minutes",
        ),
        _item("Lambda requests", functions["requests"] * scale, "lambda_requests"),
    ]
    for architecture in ("x86_64", "arm64"):
        seconds = scale * sum(
            f["gb_seconds"]
            for f in functions["functions"].values()
            if f["architecture"] == architecture
        )
        if seconds:
            items.append(
                _item(
                    f"Lambda duration ({architecture})",
                    seconds,
                    f"lambda_gb_seconds_{architecture}",
                )
            )
    # One Data API request per indexing invocation (tests/local/test_search_indexing.py).
    indexing = functions["functions"].get("IndexFunction", {}).get("requests", 0) * scale
    if indexing:
        items.append(
            _item("RDS Data API requests (search index)", indexing, "rds_data_api_requests")
        )
    items += [
        _item("DynamoDB writes", dynamodb["write_units"] * scale, "dynamodb_write_units"),
        _item("DynamoDB reads", dynamodb["read_units"] * scale, "dynamodb_read_units"),
    ]
    logs = reading.get("cloudwatch_logs")  # readings from before the meter counted logs: none
    if logs is not None:
        items.append(_item("CloudWatch Logs ingested", logs["bytes"] * scale, "cloudwatch_logs_gb"))
    return items


def _item(name: str, amount: float, price: str) -> LineItem:
    chosen = PRICES[price]
    return LineItem(name, amount, chosen.unit, chosen.of(amount))


def total(items: list[LineItem]) -> float:
    return sum(item.dollars for item in items)


# The thumbnail function's run for a 12 MP photo at 1,024 MB: decode, turn upright, re-encode
# without metadata, resize (0.2-0.3 s of CPU on this machine's x86 core, measured with
# lambdas.services.thumbnails._image), taken as 0.6 s on arm64 at 1,024 MB with its S3 calls.
THUMBNAIL_GB_SECONDS = 0.6


def image_dollars(
    *,
    size: int = 3 * 2**20,
    thumb_size: int = 30 * 2**10,
    thumb_views: int = 50,
    full_views: int = 5,
    months: float = 1.0,
    rewritten: bool = True,
) -> dict[str, float]:
    """What one image shared in a message costs, by line: stored `months`, its thumbnail shown
    `thumb_views` times and opened full size `full_views` times (each view a presigned GET and
    its bytes out). `rewritten`: the original had metadata, so the function put it back without
    it (one more PUT, and one more short invocation for the event that PUT makes)."""
    puts = 2 + (1 if rewritten else 0)  # the browser's POST, the thumbnail, the rewrite
    invocations = 2 if rewritten else 1
    lines = {
        "S3 requests": PRICES["s3_put_requests"].of(puts)
        + PRICES["s3_get_requests"].of(1 + thumb_views + full_views),
        "thumbnail function": PRICES["lambda_requests"].of(invocations)
        + PRICES["lambda_gb_seconds_arm64"].of(THUMBNAIL_GB_SECONDS + 0.05 * (invocations - 1)),
        # The upload's item: put, checked, claimed; the day's bytes counted (1 unit each).
        "DynamoDB": PRICES["dynamodb_write_units"].of(4) + PRICES["dynamodb_read_units"].of(3),
        "S3 storage": PRICES["s3_storage_gb_month"].of((size + thumb_size) * months),
        "transfer out": PRICES["s3_transfer_out_gb"].of(
            thumb_size * thumb_views + size * full_views
        ),
    }
    lines["total"] = sum(lines.values())
    return lines
