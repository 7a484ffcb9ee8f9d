"""How every outbound call of an adapter is timed: database, S3, SQS, SNS, DynamoDB, SES.

An adapter takes a `Metrics` in `__init__` (the container passes `metrics`) and wraps each call:

    from billing.adapters.metrics.timing import timed
    from billing.ports.metrics import AWS_DURATION

    with timed(self._metrics, AWS_DURATION, service="s3", operation="put_object"):
        await client.put_object(Bucket=..., Key=..., Body=...)

It records one timing in milliseconds, tagged with the given tags plus `outcome` ("ok",
"error" when the call raised, "cancelled"), whether the call succeeds or not, and re-raises.
Tags are fixed words chosen by the adapter (service, operation): never ids, keys, emails.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager

from billing.ports.metrics import Metrics


@contextmanager
def timed(metrics: Metrics, name: str, /, **tags: str) -> Iterator[None]:
    started = time.perf_counter()
    outcome = "ok"
    try:
        yield
    except asyncio.CancelledError:
        outcome = "cancelled"
        raise
    except BaseException:
        outcome = "error"
        raise
    finally:
        metrics.timing(name, (time.perf_counter() - started) * 1000.0, tags | {"outcome": outcome})

