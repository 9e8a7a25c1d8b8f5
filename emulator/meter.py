"""What AWS would bill for what the local stack serves, counted as it happens.

- **API Gateway (WebSocket API)**: messages, each data frame a client sends and each frame sent
  to a client (a route's reply, an `@connections` POST, the gateway's own answers such as
  "Forbidden"), metered in 32 KB units (a 33 KB frame is two messages); control frames (ping,
  pong, close) are not messages. Connection minutes: how long each connection stays open,
  counted exactly (fractions included) from the handshake to its close.
- **Lambda**: requests and billed duration per function, the handler's time rounded up to the
  next millisecond, in GB-seconds (`MemorySize` / 1,024 × seconds) for its architecture
  (`Architectures` in the template: x86_64 or arm64 price differently). Invocations the service
  refuses (throttled) are not billed; failed ones are.
- **CloudWatch Logs**: what the functions' processes print (stdout and stderr, process mode),
  each line one log event of its bytes plus 26, as CloudWatch Logs bills ingestion (output.py).
  Thread mode's functions print into the gateway's own streams, which are not counted.
- **DynamoDB** (with `Settings.meter_dynamodb`, which `make run` sets): requests, read and write
  units per table and per index, for every call a function makes through the gateway's relay
  (dynamodb_proxy.py; emulator/dynamodb_meter.py says how units are counted). The site's
  own calls do not pass through it and are not counted.

The gateway holds one Meter; `GET /@meter` on the gateway answers `snapshot()` as JSON and the
stack prints `summary()` when it stops. Prices are not here: `make cost` applies them.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

MESSAGE_UNIT = 32 * 1024  # bytes per billed WebSocket message


def message_units(size: int) -> int:
    """Billed messages for one frame of `size` bytes (an empty frame is still one)."""
    return max(1, math.ceil(size / MESSAGE_UNIT))


@dataclass
class FunctionUsage:
    memory_mb: int
    architecture: str
    requests: int = 0
    billed_ms: int = 0

    @property
    def gb_seconds(self) -> float:
        return self.memory_mb / 1024 * self.billed_ms / 1000


@dataclass
class TableUsage:
    requests: int = 0
    read_units: float = 0.0
    write_units: float = 0.0


@dataclass
class LogUsage:
    events: int = 0
    bytes: int = 0


@dataclass
class Meter:
    """Counters of billable units, safe to update from the gateway's loop and from threads."""

    messages_in: int = 0
    messages_out: int = 0
    connections: int = 0  # opened, ever
    closed_seconds: float = 0.0  # connection time of the connections already closed
    functions: dict[str, FunctionUsage] = field(default_factory=dict)
    tables: dict[str, TableUsage] = field(default_factory=dict)  # "table" or "table/index/I"
    logs: dict[str, LogUsage] = field(default_factory=dict)  # per function
    _open: dict[str, float] = field(default_factory=dict, repr=False)  # id -> opened (monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    started: float = field(default_factory=time.monotonic, repr=False)

    def received(self, size: int) -> None:
        """A data frame of `size` bytes from a client."""
        with self._lock:
            self.messages_in += message_units(size)

    def sent(self, size: int) -> None:
        """A frame of `size` bytes to a client."""
        with self._lock:
            self.messages_out += message_units(size)

    def opened(self, connection_id: str, at: float | None = None) -> None:
        with self._lock:
            self.connections += 1
            self._open[connection_id] = time.monotonic() if at is None else at

    def closed(self, connection_id: str, at: float | None = None) -> None:
        with self._lock:
            opened = self._open.pop(connection_id, None)
            if opened is not None:
                self.closed_seconds += (time.monotonic() if at is None else at) - opened

    def invoked(
        self, function_id: str, *, memory_mb: int, architecture: str, duration_ms: float
    ) -> None:
        """One invocation that ran its handler for `duration_ms`."""
        billed = max(1, math.ceil(duration_ms))
        with self._lock:
            usage = self.functions.get(function_id)
            if usage is None:
                usage = self.functions[function_id] = FunctionUsage(memory_mb, architecture)
            usage.requests += 1
            usage.billed_ms += billed

    def logged(self, function_id: str, *, events: int, size: int) -> None:
        """`events` log lines of `size` billed bytes (message + overhead) from a function."""
        with self._lock:
            usage = self.logs.setdefault(function_id, LogUsage())
            usage.events += events
            usage.bytes += size

    def dynamodb(
        self, name: str, *, requests: int = 0, read_units: float = 0.0, write_units: float = 0.0
    ) -> None:
        """Units a table (or "table/index/name") consumed, and the requests that named it."""
        with self._lock:
            usage = self.tables.setdefault(name, TableUsage())
            usage.requests += requests
            usage.read_units += read_units
            usage.write_units += write_units

    def connection_minutes(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        with self._lock:
            running = sum(now - opened for opened in self._open.values())
            return (self.closed_seconds + running) / 60

    def snapshot(self) -> dict:
        """Everything counted so far, as `GET /@meter` answers it."""
        minutes = self.connection_minutes()
        with self._lock:
            functions = {
                name: {
                    "requests": usage.requests,
                    "billed_ms": usage.billed_ms,
                    "gb_seconds": round(usage.gb_seconds, 6),
                    "memory_mb": usage.memory_mb,
                    "architecture": usage.architecture,
                }
                for name, usage in sorted(self.functions.items())
            }
            return {
                "seconds": round(time.monotonic() - self.started, 3),
                "apigateway": {
                    "messages": self.messages_in + self.messages_out,
                    "messages_in": self.messages_in,
                    "messages_out": self.messages_out,
                    "connections": self.connections,
                    "open_connections": len(self._open),
                    "connection_minutes": round(minutes, 4),
                },
                "lambda": {
                    "requests": sum(f["requests"] for f in functions.values()),
                    "gb_seconds": round(sum(f["gb_seconds"] for f in functions.values()), 6),
                    "functions": functions,
                },
                "cloudwatch_logs": {
                    "events": sum(u.events for u in self.logs.values()),
                    "bytes": sum(u.bytes for u in self.logs.values()),
                    "functions": {
                        name: {"events": u.events, "bytes": u.bytes}
                        for name, u in sorted(self.logs.items())
                    },
                },
                "dynamodb": {
                    "requests": sum(t.requests for t in self.tables.values()),
                    "read_units": sum(t.read_units for t in self.tables.values()),
                    "write_units": sum(t.write_units for t in self.tables.values()),
                    "tables": {
                        name: {
                            "requests": t.requests,
                            "read_units": t.read_units,
                            "write_units": t.write_units,
                        }
                        for name, t in sorted(self.tables.items())
                    },
                },
            }

    def summary(self) -> str:
        """One line for the terminal when the stack stops."""
        counted = self.snapshot()
        api, functions, dynamodb = counted["apigateway"], counted["lambda"], counted["dynamodb"]
        line = (
            f"metered: {api['messages']:,} API Gateway messages "
            f"({api['messages_in']:,} in, {api['messages_out']:,} out), "
            f"{api['connection_minutes']:,.1f} connection minutes, "
            f"{functions['requests']:,} Lambda requests, "
            f"{functions['gb_seconds']:,.3f} GB-s"
        )
        if dynamodb["requests"]:
            line += (
                f", {dynamodb['requests']:,} DynamoDB requests "
                f"({dynamodb['read_units']:,.1f} read, {dynamodb['write_units']:,.1f} write units)"
            )
        logs = counted["cloudwatch_logs"]
        if logs["events"]:
            line += f", {logs['events']:,} log events ({logs['bytes'] / 1024:,.1f} KiB)"
        return line
