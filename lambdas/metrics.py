"""CloudWatch metrics of the functions, as Powertools EMF lines flushed once per invocation.

Services record through `metric_count` / `metric_ms` wherever the event happens; only inside a
`with_metrics` handler are they kept, so the site (which calls the same services) prints nothing.
The local gateway runs handlers concurrently in threads of one process: a lock keeps the shared
Powertools buffer consistent, and a flush may carry a neighbour's metrics (the sums stay right).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from lambdas.config import get_config

metrics = Metrics(service="dynamowave")
_lock = threading.Lock()
_active = 0  # invocations in progress in this process


def metric_count(name: str, value: float = 1) -> None:
    _add(name, MetricUnit.Count, value)


def metric_ms(name: str, value: float) -> None:
    _add(name, MetricUnit.Milliseconds, value)


def _add(name: str, unit: MetricUnit, value: float) -> None:
    with _lock:
        if _active:
            metrics.add_metric(name=name, unit=unit, value=value)


def with_metrics(handler: Callable[[dict, object], dict]) -> Callable[[dict, object], dict]:
    """Collect the invocation's metrics and print them as one EMF document when it ends.

    The request id goes along as metadata (not a dimension: it would make a metric per request),
    so a metric line can be matched with the invocation's log lines.
    """

    @functools.wraps(handler)
    def wrapper(event: dict, context: object) -> dict:
        global _active
        with _lock:
            _active += 1
            metrics.namespace = get_config().metrics_namespace
        try:
            return handler(event, context)
        finally:
            request_id = ((event or {}).get("requestContext") or {}).get("requestId")
            with _lock:
                _active -= 1
                if metrics.metric_set:
                    if request_id:
                        metrics.add_metadata(key="request_id", value=str(request_id))
                    metrics.flush_metrics()
                # Powertools keeps the buffer when POWERTOOLS_METRICS_DISABLED is set: it would
                # grow for the life of the process (the local gateway's), so empty it ourselves.
                metrics.clear_metrics()

    return wrapper
