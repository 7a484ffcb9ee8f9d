"""The Metrics port on a statsd agent (the CloudWatch agent's statsd listener), over UDP.

aiodogstatsd queues each metric (bounded, dropped when full) and a background task sends it as
one datagram, so `increment`/`timing` cost a dict and a put_nowait: a slow or dead agent never
slows a request, and a refused datagram (ICMP port unreachable) is ignored. Tags use the
DogStatsD form `|#key:value`, which the CloudWatch agent turns into dimensions.
"""

from __future__ import annotations

import contextlib
import logging
import re

from aiodogstatsd import Client

from billing.ports.metrics import Tags

log = logging.getLogger(__name__)

# Characters that would break the line protocol (`name:value|type|#k:v,k:v`) inside a tag value.
_UNSAFE = re.compile(r"[|,#:\s]")


def _clean(tags: Tags | None) -> dict[str, str] | None:
    if not tags:
        return None
    return {_UNSAFE.sub("_", k): _UNSAFE.sub("_", str(v)) for k, v in tags.items()}


class StatsdMetrics:
    """Call `await start()` once on the running loop (the container's resource does) and
    `await close()` at shutdown; metrics reported before start or after close are dropped."""

    def __init__(self, host: str, port: int = 8125, prefix: str = "billing") -> None:
        self._host, self._port = host, port
        # read_timeout bounds how long close() waits for the sender task to notice it.
        self._client = Client(host=host, port=port, namespace=prefix or None, read_timeout=0.2,
                              close_timeout=2.0, pending_queue_size=10_000)

    @property
    def address(self) -> tuple[str, int]:
        return self._host, self._port

    async def start(self) -> None:
        try:
            await self._client.connect()
        except OSError as exc:
            # An unresolvable host must not stop the service: run without metrics, say so once.
            log.warning("statsd agent %s:%s unusable (%s); metrics are off", self._host, self._port, exc)

    async def close(self) -> None:
        if self._client.connected:
            await self._client.close()

    def increment(self, name: str, value: int = 1, tags: Tags | None = None) -> None:
        with contextlib.suppress(Exception):
            self._client.increment(name, value=value, tags=_clean(tags))

    def timing(self, name: str, milliseconds: float, tags: Tags | None = None) -> None:
        # Three decimals: microsecond resolution, and never an exponent (1e-05) on the wire.
        with contextlib.suppress(Exception):
            self._client.timing(name, value=round(max(milliseconds, 0.0), 3), tags=_clean(tags))
