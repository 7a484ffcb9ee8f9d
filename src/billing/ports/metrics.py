from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Protocol

Tags = Mapping[str, str]


class Metrics(Protocol):
    """Counters and timers for operations. Fire-and-forget: never raises, never blocks, never
    slows the caller when the agent is down. Names and tags carry no ids, emails or secrets:
    tag values come from small fixed sets (a route pattern, a method, an operation name), so each
    name has few tag combinations (every combination is a billed CloudWatch metric).

    `increment` adds `value` to a counter; `timing` records one duration in milliseconds (the agent
    turns them into count, min, max, average and percentiles per aggregation interval)."""

    # A protocol's default is never run (the adapters' defaults are): nothing to mutate.
    def increment(self, name: str, value: int = 1, tags: Tags | None = None) -> None: ...  # pragma: no mutate

    def timing(self, name: str, milliseconds: float, tags: Tags | None = None) -> None: ...


# The metric names, in one place (docs/observability.md lists them with their tags). The statsd
# adapter prefixes each with BILLING_STATSD_PREFIX ("billing.http.requests").
HTTP_REQUESTS: Final = "http.requests"  # counter; route, method, status_class
HTTP_REQUEST_DURATION: Final = "http.request.duration"  # timer; route, method, status_class
DB_DURATION: Final = "db.duration"  # timer; operation ("users.select", "commit"), outcome
AWS_DURATION: Final = "aws.duration"  # timer; service ("s3", "sqs", ...), operation, outcome
LAMBDA_EMAILS_SENT: Final = "lambda.emails.sent"  # counter
LAMBDA_EMAILS_DEDUPLICATED: Final = "lambda.emails.deduplicated"  # counter (already in the ledger)
