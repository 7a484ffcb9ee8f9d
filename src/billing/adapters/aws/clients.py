"""One set of aioboto3 clients per process, opened at startup and closed at shutdown."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import aioboto3
from botocore.config import Config

# Bounded waits: an unreachable service is an error in seconds (then a 503), never a hang.
_CONFIG = Config(
    connect_timeout=2,
    read_timeout=15,
    retries={"max_attempts": 3, "mode": "standard"},
    signature_version="s3v4",
    s3={"addressing_style": "path"},
    request_checksum_calculation="when_required",
    response_checksum_validation="when_required",
)


class AwsClients:
    """Holds the clients; adapters look theirs up by service name once the holder is open."""

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
            for service in self._services:
                self._clients[service] = await stack.enter_async_context(
                    self._session.client(service, region_name=self._region, endpoint_url=self._endpoint_url,
                                         config=_CONFIG)
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
