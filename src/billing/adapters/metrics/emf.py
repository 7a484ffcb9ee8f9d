"""The Metrics port for AWS Lambda: CloudWatch Embedded Metric Format (EMF) lines on stdout.

A Lambda has no statsd agent to talk to, but everything it prints goes to its CloudWatch Logs
group, and CloudWatch extracts metrics from log lines shaped like this (one JSON object a line):

    {"_aws": {"Timestamp": 1767225600000,
              "CloudWatchMetrics": [{"Namespace": "Billing",
                                     "Dimensions": [["FunctionName", "service", "operation", "outcome"]],
                                     "Metrics": [{"Name": "billing.aws.duration", "Unit": "Milliseconds"}]}]},
     "FunctionName": "billing-prod-digest-mailer", "service": "ses", "operation": "send_email",
     "outcome": "ok", "billing.aws.duration": 41.7}

No API call, no credentials, no latency: one `write` per metric. The dimensions are the fixed
ones given at construction (the function's name, which keeps environments apart in the shared
namespace) plus the call's tags; tags carry no ids or emails (the port's contract), and nothing
else is added to the line, so a metric line never holds personal data either.
"""

from __future__ import annotations

import json
import math
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from billing.ports.metrics import Tags

NAMESPACE = "Billing"
MAX_DIMENSIONS = 30  # CloudWatch's limit per dimension set
_RESERVED = "_aws"
# Dimension names and values CloudWatch accepts: printable ASCII, not empty, at most 255/1024.
_NOT_PRINTABLE = re.compile(r"[^\x20-\x7e]")


def _dimension(text: object, limit: int) -> str:
    cleaned = _NOT_PRINTABLE.sub("_", str(text)).strip()[:limit]
    return cleaned or "_"


class EmfMetrics:
    """Counters (Unit Count) and timers (Unit Milliseconds) as EMF lines on `stream` (stdout).

    Never raises: a metric that cannot be written is dropped."""

    def __init__(
        self,
        *,
        namespace: str = NAMESPACE,
        prefix: str = "billing",
        dimensions: Mapping[str, str] | None = None,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._namespace = namespace
        self._prefix = f"{prefix}." if prefix else ""
        self._fixed = {_dimension(k, 255): _dimension(v, 1024) for k, v in (dimensions or {}).items()}
        self._stream = stream
        self._clock = clock
        self._lock = threading.Lock()

    def increment(self, name: str, value: int = 1, tags: Tags | None = None) -> None:
        self._emit(name, value, "Count", tags)

    def timing(self, name: str, milliseconds: float, tags: Tags | None = None) -> None:
        self._emit(name, round(max(milliseconds, 0.0), 3), "Milliseconds", tags)

    def line(self, name: str, value: float, unit: str, tags: Tags | None = None) -> str:
        """The EMF document for one value (exposed for tests)."""
        metric = self._prefix + name
        dimensions = dict(self._fixed)
        for key, tag_value in (tags or {}).items():
            key = _dimension(key, 255)
            if key != _RESERVED and key != metric:
                dimensions[key] = _dimension(tag_value, 1024)
        names = list(dimensions)[:MAX_DIMENSIONS]
        document: dict[str, Any] = {
            _RESERVED: {
                "Timestamp": int(self._clock() * 1000),
                "CloudWatchMetrics": [{
                    "Namespace": self._namespace,
                    "Dimensions": [names],
                    "Metrics": [{"Name": metric, "Unit": unit}],
                }],
            },
        }
        document.update((key, dimensions[key]) for key in names)
        document[metric] = value
        return json.dumps(document, separators=(",", ":"))

    def _emit(self, name: str, value: float, unit: str, tags: Tags | None) -> None:
        try:
            if not math.isfinite(value):
                return
            text = self.line(name, value, unit, tags) + "\n"
            stream = self._stream or sys.stdout
            with self._lock:  # one whole line per write, even from the local stand-in's thread
                stream.write(text)
                stream.flush()
        except Exception:
            pass
