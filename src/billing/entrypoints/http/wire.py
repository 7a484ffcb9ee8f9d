"""JSON on the wire: strict reading, fast writing, and the representations of our resources."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web

from billing.domain.model import FieldError, User, ValidationFailed
from billing.domain.use_cases.views import AttachmentView, BillView
from billing.entrypoints.http.body import read_body

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
        raise ValidationFailed(FieldError("body", "must be a valid UTF-8 JSON document"), "The body is not valid JSON.") from None
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
    # isoformat is several times cheaper than strftime, which showed in the listing's profile;
    # cutting its "+00:00" off is cheaper again than replace(tzinfo=None) (a new datetime).
    return moment.isoformat(timespec="milliseconds")[:23] + "Z"


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email_address": user.email_address,
        "account_created": timestamp(user.account_created),
        "account_updated": timestamp(user.account_updated),
    }


def attachment_json(view: AttachmentView) -> dict[str, Any]:
    attachment = view.attachment
    return {
        "id": str(attachment.id),
        "file_name": attachment.file_name,
        "url": view.url,
        "upload_date": timestamp(attachment.upload_date),
        "size": attachment.size,
        "md5": attachment.md5,
        "mime_type": attachment.mime_type,
    }


def bill_json(view: BillView) -> dict[str, Any]:
    bill, d = view.bill, view.bill.details
    return {
        "id": str(bill.id),
        "owner_id": str(bill.owner_id),
        "created_ts": timestamp(bill.created_ts),
        "updated_ts": timestamp(bill.updated_ts),
        "vendor": d.vendor,
        "bill_date": d.bill_date.isoformat(),
        "due_date": d.due_date.isoformat(),
        "amount_due": d.amount_due,
        "currency": d.currency,
        "categories": list(d.categories),
        "payment_status": d.payment_status.value,
        "attachment": {} if view.attachment is None else attachment_json(view.attachment),
    }
