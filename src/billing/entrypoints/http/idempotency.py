"""The Idempotency-Key header on the POSTs that create something.

A JSON request's fingerprint is method, path and the SHA-256 of the body (at most 64 KiB, read
anyway). An upload's fingerprint is method, path and the SHA-256 of the file's name and content:
the first request gets the content's digest from the upload itself (computed while streaming to
storage); a retry of a stored key streams its file part through SHA-256 only (no storage), bounded
by BILLING_MAX_UPLOAD_BYTES. The multipart boundary and part headers other than the file name do
not count: a client library picks a new boundary at each retry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from billing.domain.model.idempotency import HEADER, StoredResponse, digest, fingerprint, parse_key
from billing.domain.use_cases.run_idempotently import IdempotentCall
from billing.entrypoints.http.keys import CONTAINER

REPLAYED = "Idempotent-Replayed"
_KEPT_HEADERS = ("Location",)


def stored(response: web.Response) -> StoredResponse:
    body = response.body
    assert isinstance(body, bytes | bytearray), "idempotent handlers answer with an in-memory body"
    headers = tuple((name, response.headers[name]) for name in _KEPT_HEADERS if name in response.headers)
    return StoredResponse(response.status, response.content_type, headers, bytes(body))


def replay(result: StoredResponse, replayed: bool) -> web.Response:
    headers = dict(result.headers)
    if replayed:
        headers[REPLAYED] = "true"
    return web.Response(status=result.status, body=result.body, content_type=result.content_type, headers=headers)


async def idempotent_json(request: web.Request, scope: str,
                          handler: Callable[[], Awaitable[web.Response]]) -> web.StreamResponse:
    """Run `handler` once per key (when the request carries one); the body is JSON."""
    raw_key = request.headers.get(HEADER)
    if raw_key is None:
        return await handler()
    key = parse_key(raw_key)
    body = await request.read()  # 413 above the app's limit; cached for the handler
    print_ = fingerprint(request.method, request.path, digest(body))

    async def run() -> tuple[StoredResponse, str]:
        return stored(await handler()), print_

    async def same() -> str:
        return print_

    call = IdempotentCall(scope=scope, key=key, run=run, fingerprint=same)
    result = await request.app[CONTAINER].run_idempotently().execute(call)
    return replay(result.response, result.replayed)


async def idempotent_upload(request: web.Request, scope: str,
                            handler: Callable[[], Awaitable[tuple[web.Response, str, str]]],
                            content_digest: Callable[[], Awaitable[tuple[str, str]]]) -> web.StreamResponse:
    """Run the upload `handler` once per key. The handler returns the response, the file name and
    the SHA-256 of the content it stored; `content_digest` reads the request's file part through
    SHA-256 without storing it (for a retry to compare), returning the same pair."""
    raw_key = request.headers.get(HEADER)
    if raw_key is None:
        return (await handler())[0]
    key = parse_key(raw_key)

    def of(file_name: str, sha256: str) -> str:
        return fingerprint(request.method, request.path, digest(f"{file_name}\0{sha256}".encode()))

    async def run() -> tuple[StoredResponse, str]:
        response, file_name, sha256 = await handler()
        return stored(response), of(file_name, sha256)

    async def same() -> str:
        return of(*await content_digest())

    call = IdempotentCall(scope=scope, key=key, run=run, fingerprint=same)
    result = await request.app[CONTAINER].run_idempotently().execute(call)
    return replay(result.response, result.replayed)
