"""One set of aioboto3 clients per process, opened at startup and closed at shutdown."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import aioboto3
from botocore.config import Config

# Bounded waits: an unreachable service is an error in seconds (then a 503), never a hang.
CONFIG = Config(
    connect_timeout=2,
    read_timeout=15,
    retries={"max_attempts": 3, "mode": "standard"},
    signature_version="s3v4",
    s3={"addressing_style": "path"},
    request_checksum_calculation="when_required",
    response_checksum_validation="when_required",
)

SQS_LONG_POLL = "sqs-long-poll"  # the SQS client that receives: the only one whose calls wait on purpose
LONG_POLL_SECONDS = 20  # SQS's longest WaitTimeSeconds
# SQS answers a long poll after up to LONG_POLL_SECONDS. A client that stops reading sooner
# abandons a poll SQS still serves, and whatever SQS hands to it then stays hidden for the
# visibility timeout (and counts as a receive). So this client reads for longer than any poll.
LONG_POLL_CONFIG = CONFIG.merge(Config(read_timeout=LONG_POLL_SECONDS + 10))

# Clients that are not simply the service's name with CONFIG: name -> (service, config).
_SPECIAL = {SQS_LONG_POLL: ("sqs", LONG_POLL_CONFIG)}


class AwsClients:
    """Holds the clients; adapters look theirs up by name once the holder is open. A name is a
    service's (with CONFIG) or SQS_LONG_POLL."""

    def __init__(self, region: str, endpoint_url: str = "", services: tuple[str, ...] = ("s3",)) -> None:
        self._session = aioboto3.Session()
        self._region = region
        self._endpoint_url = endpoint_url or None  # None: AWS's own endpoints and credential chain
        self._services = services
        self._clients: dict[str, Any] = {}
        self._stack: AsyncExitStack | None = None

    async def open(self) -> None:
        stack = AsyncExitStack()
        try:
            for name in self._services:
                service, config = _SPECIAL.get(name, (name, CONFIG))
                self._clients[name] = await stack.enter_async_context(
                    self._session.client(service, region_name=self._region, endpoint_url=self._endpoint_url,
                                         config=config)
                )
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack

    async def close(self) -> None:
        stack, self._stack = self._stack, None
        self._clients.clear()
        if stack is not None:
            await stack.aclose()

    def __getitem__(self, service: str) -> Any:
        try:
            return self._clients[service]
        except KeyError:
            raise RuntimeError(f"AWS client {service!r} is not open (container resources not initialised?)") from None


async def opened(clients: AwsClients) -> AsyncIterator[None]:
    """A dependency-injector Resource: the clients are open for the container's lifetime."""
    await clients.open()
    try:
        yield
    finally:
        await clients.close()
