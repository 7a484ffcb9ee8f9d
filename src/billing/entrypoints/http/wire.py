"""JSON on the wire: strict reading, fast writing, and the representations of our resources."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import orjson
from aiohttp import hdrs, web

from billing.domain.model import (
    AttachmentView,
    BillView,
    FieldError,
    User,
    ValidationFailed,
)
from billing.entrypoints.http.body import read_body
from billing.entrypoints.http.keys import STREAM_TURN

JSON = "application/json"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object, numbers with a fraction as exact Decimals. Anything else is 400
    (too large is 413, raised by aiohttp against the app's client_max_size)."""
    content_type = request.headers.get("Content-Type")
    # Old clients sometimes omit the header; an explicit non-JSON type is refused.
    if content_type is not None and request.content_type not in (JSON, "application/merge-patch+json") \
            and not request.content_type.endswith("+json"):
        raise web.HTTPUnsupportedMediaType(text=f"send {JSON}")
    raw = await read_body(request)
    try:
        data = json.loads(raw.decode("utf-8"), parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ValidationFailed(
            FieldError("body", "must be a valid UTF-8 JSON document"), "The body is not valid JSON."
        ) from None
    if not isinstance(data, dict):
        raise ValidationFailed(FieldError("body", "must be a JSON object"), "The body must be a JSON object.")
    # A \u escape can name half of a UTF-16 surrogate pair: valid JSON, yet no text that UTF-8 (or a
    # database) can hold. Only a body with an escape needs the walk.
    if b"\\u" in raw and _has_lone_surrogate(data):
        raise ValidationFailed(FieldError("body", "must not contain an unpaired UTF-16 surrogate (\\ud800-\\udfff)"),
                               "The body is not valid Unicode text.")
    return data


def _has_lone_surrogate(data: object) -> bool:
    stack = [data]  # a loop, not recursion: json.loads accepts nesting deeper than a recursive walk could
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


def _default(value: object) -> Any:
    if isinstance(value, Decimal):
        # Amounts have at most 12 significant digits (<= 1e9, two decimals); a float's shortest
        # repr round-trips them exactly, so the number on the wire is the stored value.
        return float(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def json_response(body: Any, *, status: int = 200, headers: dict[str, str] | None = None,
                  content_type: str = JSON) -> web.Response:
    return web.Response(body=orjson.dumps(body, default=_default), status=status, headers=headers,
                        content_type=content_type)


def timestamp(moment: datetime) -> str:
    """ISO 8601 UTC with milliseconds and Z, e.g. 2026-11-24T09:30:00.123Z."""
    # isoformat, and slicing its "+00:00" off, are the cheap ways here (bench/README.md, listing profile).
    return moment.isoformat(timespec="milliseconds")[:23] + "Z"


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email_address": user.email_address,
        "account_created": timestamp(user.account_created),
        "account_updated": timestamp(user.account_updated),
        "reminder_days": user.reminder_days,
    }


def attachment_json(view: AttachmentView) -> dict[str, Any]:
    return {
        "id": view.id,
        "file_name": view.file_name,
        "url": view.url,
        "upload_date": timestamp(view.upload_date),
        "size": view.size,
        "md5": view.md5,
        "mime_type": view.mime_type,
    }


def bill_json(view: BillView) -> dict[str, Any]:
    """The bill of GET /v1/bill/{id}, of the listing and of POST's answer. UUIDs, dates, the
    status and the categories' tuple go to orjson as they are (it writes them natively, in C)."""
    return {
        "id": view.id,
        "owner_id": view.owner_id,
        "created_ts": timestamp(view.created_ts),
        "updated_ts": timestamp(view.updated_ts),
        "vendor": view.vendor,
        "bill_date": view.bill_date,
        "due_date": view.due_date,
        "amount_due": view.amount_due,
        "currency": view.currency,
        "categories": view.categories,
        "payment_status": view.payment_status,
        "attachment": {} if view.attachment is None else attachment_json(view.attachment),
    }


T = TypeVar("T")
# A streamed answer whose client has not taken a page for this long is cut off: a reader that
# stalls must not hold the server's memory (a page, the socket's buffer) for ever.
STALLED_READER_SECONDS = 30.0
# Streams give way to the worker's other requests: after a page, the turn (app[STREAM_TURN]) stays
# taken twice as long as the page took, so streams together use at most a third of the worker's
# time, whatever their number. Bulk goes slower; the requests beside it stay quick.
GIVE_WAY = 2.0


async def stream_json_array(request: web.Request, first: Sequence[T], rest: AsyncGenerator[Sequence[T], None],
                            item_json: Callable[[T], Any], headers: dict[str, str] | None = None) -> web.StreamResponse:
    """200 with the JSON array of `first` and then of each page of `rest`, written (chunked) as
    each page comes, so the answer is never held whole. `rest` is closed however this ends.

    Pages are produced (read and encoded, CPU-bound) one at a time per process, whatever the
    number of streams, and then the streams give way (GIVE_WAY): the other requests of the worker
    run between two pages instead of waiting behind a page of every stream in progress. Writing
    waits for the client outside that turn.

    Once the status line is out, a failure (a page that cannot be read, the client gone or not
    reading) cannot become an error answer: the connection is cut before the array and the
    chunked body end, so the client sees an incomplete answer, never a shorter array that looks
    whole. The failure is raised on to the error middleware, which logs it."""
    async with contextlib.aclosing(rest):
        response = web.StreamResponse(headers=headers)
        response.content_type = JSON
        await response.prepare(request)
        if request.method == hdrs.METH_HEAD:
            return response  # the headers only: no page is read
        turn = request.app[STREAM_TURN]
        try:
            async with turn:
                data = await _items(first, item_json)
            await _write(response.write, b"[" + data)
            written = bool(first)
            loop = asyncio.get_running_loop()
            while True:
                async with turn:
                    started = loop.time()
                    page = await anext(rest, None)
                    data = b"" if page is None else await _items(page, item_json)
                    await asyncio.sleep(GIVE_WAY * (loop.time() - started))
                if page is None:
                    break
                if data:
                    await _write(response.write, (b"," if written else b"") + data)
                    written = True
            await _write(response.write_eof, b"]")
        except BaseException:
            if request.transport is not None:
                request.transport.abort()  # RST: nothing buffered for a client that may never read it
            raise
        return response


async def _items(page: Sequence[T], item_json: Callable[[T], Any]) -> bytes:
    """The page's items as JSON, comma-separated, without the array's brackets. The worker's other
    requests run first: reading a page and encoding it are two pauses of a few ms, not one."""
    await asyncio.sleep(0)
    return orjson.dumps([item_json(item) for item in page], default=_default)[1:-1]


async def _write(write: Callable[[bytes], Awaitable[None]], data: bytes) -> None:
    """`write(data)`, which waits while the socket's buffer is full (a slow reader), within
    STALLED_READER_SECONDS."""
    try:
        async with asyncio.timeout(STALLED_READER_SECONDS):
            await write(data)
    except TimeoutError:
        raise ConnectionResetError("the client stopped reading the answer") from None
