"""Request bodies, read with a deadline on every wait for the client's bytes.

A client that stops sending in the middle of a body would otherwise hold its connection, a task
and (for an upload) an S3 multipart upload for as long as it likes. Every read of a body goes
through `receive`, which allows the client at most BILLING_BODY_TIMEOUT_SECONDS to send the next
bytes: then the read raises BodyTimeout (408, the connection closed; an upload in progress is
aborted and nothing is recorded). The deadline is per idle gap, not for the whole body: a slow
upload that keeps sending is never cut off, and time the server spends elsewhere (writing a part
to S3) does not count. Handlers read bodies only through this module (a test checks).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from aiohttp import BodyPartReader, MultipartReader, web

from billing.entrypoints.http.keys import SETTINGS

T = TypeVar("T")
_BODY = web.RequestKey("body", bytes)  # the JSON body, once read: handlers and idempotency share it
CHUNK = 256 * 1024


class BodyTimeout(TimeoutError):
    """The client sent no byte of the request's body for `seconds`."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no byte of the body for {seconds:g} s")
        self.seconds = seconds


async def receive(request: web.Request, read: Awaitable[T]) -> T:
    """`await read` (one read of `request`'s body), allowing the client the idle deadline."""
    if request.content.is_eof():  # every byte has arrived: nothing to wait for (the usual JSON body)
        return await read
    seconds = request.app[SETTINGS].body_timeout_seconds
    deadline = asyncio.timeout(seconds)
    try:
        async with deadline:
            return await read
    except TimeoutError:
        if not deadline.expired():
            raise
    timeout = BodyTimeout(seconds)
    # Every later read of this body fails at once, aiohttp's own among them (after an answer it
    # reads what the client still sends for a while before closing): nothing more is waited for.
    request.content.set_exception(timeout)
    raise timeout


async def read_body(request: web.Request) -> bytes:
    """The whole body, at most the app's client_max_size (413 above it, as aiohttp's own read)."""
    if _BODY in request:
        return request[_BODY]
    limit = request.client_max_size
    chunks: list[bytes] = []
    size = 0
    while chunk := await receive(request, request.content.readany()):
        size += len(chunk)
        if size > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=size)
        chunks.append(chunk)
    request[_BODY] = body = b"".join(chunks)
    return body


async def next_part(request: web.Request, reader: MultipartReader) -> MultipartReader | BodyPartReader | None:
    """The next part of a multipart body (its boundary and headers read within the deadline)."""
    return await receive(request, reader.next())


async def read_chunk(request: web.Request, part: BodyPartReader) -> bytes:
    """Up to CHUNK bytes of `part`; b"" at its end."""
    return await receive(request, part.read_chunk(CHUNK))


async def skip(request: web.Request, part: MultipartReader | BodyPartReader) -> None:
    """Read past `part` without keeping it."""
    if isinstance(part, BodyPartReader):
        while await read_chunk(request, part):
            pass
    else:  # a nested multipart body: not something an upload has
        await receive(request, part.release())
