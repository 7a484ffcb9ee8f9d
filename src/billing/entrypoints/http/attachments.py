"""/v1/bill/{id}/file: the bill's invoice file, streamed to storage."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import AsyncIterator

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from billing.domain.model import (
    AttachmentView,
    FieldError,
    FileTooLarge,
    User,
    ValidationFailed,
)
from billing.domain.model.attachment import clean_file_name
from billing.domain.use_cases.attach_file import AttachFileCommand
from billing.domain.use_cases.get_attachment import AttachmentCommand
from billing.entrypoints.http.auth import AuthenticatedHandler, authenticated
from billing.entrypoints.http.body import next_part, read_chunk, skip
from billing.entrypoints.http.idempotency import Fingerprints, idempotent, user_scope
from billing.entrypoints.http.keys import CONTAINER, SETTINGS
from billing.entrypoints.http.paths import path_uuid
from billing.entrypoints.http.wire import attachment_json, json_response
from billing.ports import RecordAnswer

routes = web.RouteTableDef()
FIELD = "attachment"
# Room for the multipart boundaries and part headers around the file itself.
MULTIPART_OVERHEAD = 64 * 1024


def _no_file() -> ValidationFailed:
    return ValidationFailed(FieldError(FIELD, f"send multipart/form-data with the file in the field {FIELD!r}"),
                            "No file was uploaded.")


async def _file_part(request: web.Request) -> BodyPartReader:
    if request.content_type != "multipart/form-data":
        raise _no_file()
    try:
        reader = await request.multipart()
        while (part := await next_part(request, reader)) is not None:
            if isinstance(part, BodyPartReader) and part.name == FIELD:
                return part
            await skip(request, part)  # other fields are not kept
    except MALFORMED:
        raise _malformed() from None
    raise _no_file()


# aiohttp's complaints about a malformed body (HttpProcessingError: a part's bad header line).
MALFORMED = (ValueError, AssertionError, RuntimeError, HttpProcessingError)


def _malformed() -> ValidationFailed:
    return ValidationFailed(FieldError("body", "is not valid multipart/form-data"), "Malformed upload.")


async def _chunks(request: web.Request, part: BodyPartReader) -> AsyncIterator[bytes]:
    while True:
        try:
            chunk = await read_chunk(request, part)
        except MALFORMED:
            raise _malformed() from None
        if not chunk:
            return
        yield chunk


def _attached(view: AttachmentView) -> web.Response:
    location = f"/v1/bill/{view.bill_id}/file/{view.id}"
    return json_response(attachment_json(view), status=201, headers={"Location": location})


def _stored_file(request: web.Request, view: AttachmentView, fingerprints: Fingerprints) -> str:
    """The first request's fingerprint: the file's name and the digest taken while it was stored."""
    return fingerprints.of(request, view.file_name.encode(), view.sha256.encode())


async def _retried_file(request: web.Request, fingerprints: Fingerprints) -> str:
    """A retry's fingerprint: its file through SHA-256 only, never to storage (nor past the limit)."""
    limit = request.app[SETTINGS].max_upload_bytes
    part = await _file_part(request)
    sha256, size = hashlib.sha256(), 0
    async for chunk in _chunks(request, part):
        size += len(chunk)
        if size > limit:
            raise FileTooLarge(limit)
        sha256.update(chunk)
    return fingerprints.of(request, clean_file_name(part.filename).encode(), sha256.hexdigest().encode())


def _refused_early(handler: AuthenticatedHandler) -> AuthenticatedHandler:
    """A bad bill id (404) or a declared size over the limit (413) is refused before a byte is
    read, and before an Idempotency-Key is claimed."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request, user: User) -> web.StreamResponse:
        path_uuid(request, "id")
        limit = request.app[SETTINGS].max_upload_bytes
        if request.content_length is not None and request.content_length > limit + MULTIPART_OVERHEAD:
            raise FileTooLarge(limit)
        return await handler(request, user)

    return wrapper


@routes.post("/v1/bill/{id}/file")
@authenticated
@_refused_early
@idempotent(lambda user: user_scope(user.id), _attached, fingerprint=_retried_file, fingerprint_of_result=_stored_file)
async def upload(request: web.Request, record: RecordAnswer[AttachmentView] | None, user: User) -> AttachmentView:
    part = await _file_part(request)
    command = AttachFileCommand(owner_id=user.id, bill_id=path_uuid(request, "id"), file_name=part.filename,
                                chunks=_chunks(request, part), record_answer=record)
    return await request.app[CONTAINER].attach_file().execute(command)


def _command(request: web.Request, user: User) -> AttachmentCommand:
    return AttachmentCommand(owner_id=user.id, bill_id=path_uuid(request, "id"),
                             attachment_id=path_uuid(request, "file_id"))


@routes.get("/v1/bill/{id}/file/{file_id}")
@authenticated
async def get_file(request: web.Request, user: User) -> web.Response:
    view = await request.app[CONTAINER].get_attachment().execute(_command(request, user))
    return json_response(attachment_json(view))


@routes.delete("/v1/bill/{id}/file/{file_id}")
@authenticated
async def delete_file(request: web.Request, user: User) -> web.Response:
    await request.app[CONTAINER].delete_attachment().execute(_command(request, user))
    return web.Response(status=204)
