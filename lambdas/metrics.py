"""CloudWatch metrics of the functions, as Powertools EMF lines flushed once per invocation.

Services record through `metric_count` / `metric_ms` wherever the event happens; only inside a
`with_metrics` handler are they kept, so the site (which calls the same services) prints nothing.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from lambdas.config import get_config

metrics = Metrics(service="dynamowave")
# Services record from worker threads of their own too (shard invocations, connection checks),
# and Powertools' buffer is a plain dict: one lock keeps its lists whole.
_lock = threading.Lock()
# Inside a with_metrics invocation: Lambda gives an environment one invocation at a time, and a
# flag (not a context variable) is seen by the invocation's worker threads as well.
_collecting = False


def metric_count(name: str, value: float = 1) -> None:
    _add(name, MetricUnit.Count, value)


def metric_ms(name: str, value: float) -> None:
    _add(name, MetricUnit.Milliseconds, value)


def _add(name: str, unit: MetricUnit, value: float) -> None:
    with _lock:
        if _collecting:
            metrics.add_metric(name=name, unit=unit, value=value)


def with_metrics(handler: Callable[[dict, object], dict]) -> Callable[[dict, object], dict]:
    """Collect the invocation's metrics and print them as one EMF document when it ends.

    The request id goes along as metadata (not a dimension: it would make a metric per request),
    so a metric line can be matched with the invocation's log lines.
    """

    @functools.wraps(handler)
    def wrapper(event: dict, context: object) -> dict:
        global _collecting
        with _lock:
            _collecting = True
            metrics.namespace = get_config().metrics_namespace
        try:
            return handler(event, context)
        finally:
            request_id = ((event or {}).get("requestContext") or {}).get("requestId")
            with _lock:
                _collecting = False
                if metrics.metric_set:
                    if request_id:
                        metrics.add_metadata(key="request_id", value=str(request_id))
                    metrics.flush_metrics()
                # Powertools keeps the buffer when POWERTOOLS_METRICS_DISABLED is set: it would
                # grow for the life of the environment, so empty it ourselves.
                metrics.clear_metrics()

    return wrapper
