"""A bucket's lifecycle rules, as template.yaml declares them, applied to the local S3: moto's
server stores a lifecycle configuration but never acts on it, so without this an abandoned
upload would stay forever locally and no test could see the rule that removes it on AWS.

What S3 does, as its documentation says ("Lifecycle configuration elements", "Setting lifecycle
configuration"): a rule applies to the objects whose keys start with its prefix, which carry
every one of its tags and whose size is within its bounds; `ExpirationInDays` deletes an object
once that many days have passed since it was created, counted to the next midnight UTC (an
object made at 15:00 with 1 day goes at the second midnight); `AbortIncompleteMultipartUpload`
aborts an upload initiated that many days before, counted the same way. S3 acts on them in the
background, some time after they are due: the sweeper here acts when it runs (`sweep`), with a
clock tests move. A rule with an action the sweeper does not apply is refused when it is read,
so the template cannot declare one the local stack silently skips.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

logger = logging.getLogger(__name__)

DAY = 86400
# What a rule may hold (CloudFormation's AWS::S3::Bucket Rule) and be applied here. Versioning
# is off in this template, so noncurrent-version actions would have nothing to act on; storage
# class transitions change no object's content: both are refused rather than ignored.
FILTERS = frozenset(
    {"Id", "Status", "Prefix", "TagFilters", "ObjectSizeGreaterThan", "ObjectSizeLessThan"}
)
ACTIONS = frozenset({"ExpirationInDays", "AbortIncompleteMultipartUpload"})


class UnsupportedRule(ValueError):
    """A lifecycle rule whose action the local S3 would not apply."""


@dataclass(frozen=True)
class Rule:
    id: str
    prefix: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    size_above: int | None = None
    size_below: int | None = None
    expire_days: int | None = None
    abort_multipart_days: int | None = None

    def matches(self, key: str, size: int, tags: dict[str, str]) -> bool:
        """Whether the rule's filter takes this object."""
        return (
            key.startswith(self.prefix)
            and all(tags.get(k) == v for k, v in self.tags.items())
            and (self.size_above is None or size > self.size_above)
            and (self.size_below is None or size < self.size_below)
        )


def due(created: datetime, days: int) -> datetime:
    """When S3 acts on something `days` after `created`: that moment rounded up to midnight UTC."""
    at = created.astimezone(UTC) + timedelta(days=days)
    midnight = at.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight if midnight == at else midnight + timedelta(days=1)


def lifecycle_rules(template: dict, bucket_resource: str) -> list[Rule]:
    """The enabled rules of the bucket resource's LifecycleConfiguration (UnsupportedRule for
    one that holds anything this module does not apply)."""
    properties = template["Resources"][bucket_resource].get("Properties", {})
    rules = []
    for declared in properties.get("LifecycleConfiguration", {}).get("Rules", []):
        unknown = set(declared) - FILTERS - ACTIONS
        if unknown:
            raise UnsupportedRule(
                f"{bucket_resource} rule {declared.get('Id')!r}: {', '.join(sorted(unknown))}"
                " is not applied by the local S3 (emulator/s3_lifecycle.py)"
            )
        if declared.get("Status") != "Enabled":
            continue
        abort = declared.get("AbortIncompleteMultipartUpload") or {}
        rules.append(
            Rule(
                id=declared.get("Id", ""),
                prefix=declared.get("Prefix", ""),
                tags={t["Key"]: str(t["Value"]) for t in declared.get("TagFilters", [])},
                size_above=_int(declared.get("ObjectSizeGreaterThan")),
                size_below=_int(declared.get("ObjectSizeLessThan")),
                expire_days=_int(declared.get("ExpirationInDays")),
                abort_multipart_days=_int(abort.get("DaysAfterInitiation")),
            )
        )
    return rules


def _int(value: object) -> int | None:
    return None if value is None else int(value)


@dataclass
class Swept:
    expired: list[str] = field(default_factory=list)  # object keys deleted
    aborted: list[str] = field(default_factory=list)  # keys of multipart uploads aborted


class LifecycleSweeper:
    """Applies `rules` to `bucket` through `client` (a boto3 S3 client of the local server)
    whenever `sweep()` runs; `clock()` is now in epoch seconds. `start(every)` sweeps in a
    thread until `stop()`."""

    def __init__(
        self,
        client,
        bucket: str,
        rules: list[Rule],
        *,
        clock: Callable[[], float] = time.time,
    ):
        self.client, self.bucket, self.rules, self.clock = client, bucket, rules, clock
        self._seen: dict[str, datetime] = {}  # multipart upload id: first listed
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep(self) -> Swept:
        now = datetime.fromtimestamp(self.clock(), UTC)
        swept = Swept()
        expiring = [r for r in self.rules if r.expire_days is not None]
        if expiring:
            swept.expired = self._expire(expiring, now)
        aborting = [r for r in self.rules if r.abort_multipart_days is not None]
        if aborting:
            swept.aborted = self._abort(aborting, now)
        return swept

    def _expire(self, rules: list[Rule], now: datetime) -> list[str]:
        expired = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for item in page.get("Contents", []):
                key, size, created = item["Key"], item["Size"], item["LastModified"]
                past = [r for r in rules if due(created, r.expire_days) <= now]
                candidates = [r for r in past if key.startswith(r.prefix)]
                if not candidates:
                    continue
                tags = self._tags(key) if any(r.tags for r in candidates) else {}
                if any(r.matches(key, size, tags) for r in candidates):
                    self.client.delete_object(Bucket=self.bucket, Key=key)
                    expired.append(key)
        return expired

    def _tags(self, key: str) -> dict[str, str]:
        found = self.client.get_object_tagging(Bucket=self.bucket, Key=key)["TagSet"]
        return {tag["Key"]: tag["Value"] for tag in found}

    def _abort(self, rules: list[Rule], now: datetime) -> list[str]:
        """Incomplete multipart uploads past their rule's days. moto answers every upload's
        `Initiated` with one fixed date of 2010, so an upload's days count from the first
        sweep that listed it (at most one sweep after it began; tests sweep first)."""
        aborted = []
        listed = self.client.list_multipart_uploads(Bucket=self.bucket).get("Uploads", [])
        self._seen = {u["UploadId"]: self._seen.get(u["UploadId"], now) for u in listed}
        for upload in listed:
            key, initiated = upload["Key"], self._seen[upload["UploadId"]]
            if any(
                key.startswith(r.prefix) and due(initiated, r.abort_multipart_days) <= now
                for r in rules
            ):
                self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=key, UploadId=upload["UploadId"]
                )
                aborted.append(key)
        return aborted

    def start(self, every: float) -> LifecycleSweeper:
        def run() -> None:
            while not self._stopped.wait(every):
                try:
                    self.sweep()
                except Exception as exc:  # the next sweep tries again, as S3's would
                    logger.warning("lifecycle sweep of %s failed: %s", self.bucket, exc)

        self._thread = threading.Thread(target=run, name="s3-lifecycle", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
