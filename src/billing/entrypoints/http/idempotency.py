"""The Idempotency-Key header on the POSTs that create something: a retry gets the first answer.

`@idempotent` wraps such a handler. Without the header it only builds the handler's response.
With it:
- the key is claimed in a committed transaction of its own (IdempotencyStore.claim) before the
  handler runs, so a duplicate arriving meanwhile sees the claim (409);
- the handler hands `record` (a RecordAnswer hook) to its use case, which calls it in its own
  transaction: the response is built there, encoded into an opaque replay record and stored on the
  claim (IdempotencyAnswers.record), so the write and its answer commit together; the first call
  then answers with that very response;
- an error releases the claim (the corrected request may reuse the key); a claim left by a crash
  (nothing was written: the answer would have committed with the write) frees itself after
  ABANDONED_AFTER; a request whose claim was taken over meanwhile writes nothing (409).

Fingerprints (what makes two requests "the same") are HMAC-SHA256 under BILLING_IDEMPOTENCY_SECRET:
a registration body holds a password, and nothing derived from it may be kept where a copy of the
database alone could test guesses against it. A JSON request's fingerprint covers method, path and
body (at most 64 KiB, read anyway). An upload's covers method, path, the file's name and the
SHA-256 of its content: the first request takes the digest from the upload itself (computed while
streaming to storage); a retry of a stored key streams its file part through SHA-256 only (no
storage), bounded by BILLING_MAX_UPLOAD_BYTES. The multipart boundary and the other part headers
do not count: a client library picks a new boundary at each retry. The key itself is kept as its
plain SHA-256 (a client's random token, nothing derived from a secret).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Concatenate, Generic, ParamSpec, TypeVar

import orjson
from aiohttp import web

from billing.domain.model import FieldError, ServiceUnavailable, ValidationFailed
from billing.entrypoints.http.body import read_body
from billing.entrypoints.http.keys import CONTAINER
from billing.ports import IdempotencyAnswers, KeyClaim, RecordAnswer

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
KEY_MAX_LENGTH = 255
RETENTION = timedelta(hours=24)
# A claim still in flight after this long was abandoned (its process crashed or lost the database
# before it could commit or release): the key may be used again.
ABANDONED_AFTER = timedelta(minutes=2)
ANONYMOUS = "anonymous"  # the scope of unauthenticated calls (registration)
_KEPT_HEADERS = ("Location",)

P = ParamSpec("P")
R = TypeVar("R")


def user_scope(user_id: object) -> str:
    return f"user:{user_id}"


def parse_key(raw: str) -> str:
    """1-255 visible ASCII characters (what RFC 9110 field values carry without surprises)."""
    if not 1 <= len(raw) <= KEY_MAX_LENGTH or not all(" " <= c <= "~" for c in raw) or raw.strip() != raw:
        raise ValidationFailed(FieldError(HEADER, f"must be 1-{KEY_MAX_LENGTH} visible ASCII characters"),
                               f"The {HEADER} header is invalid.")
    return raw


class Fingerprints:
    """HMAC-SHA256 under the server's secret of a request's method, path and content (one per
    app, under FINGERPRINTS)."""

    def __init__(self, secret: str) -> None:
        self._template = hmac.new(secret.encode(), digestmod=hashlib.sha256)

    def of(self, request: web.Request, *content: bytes) -> str:
        mac = self._template.copy()
        mac.update(f"{request.method} {request.path}".encode())
        for part in content:
            mac.update(b"\0" + part)
        return mac.hexdigest()


async def json_body(request: web.Request, fingerprints: Fingerprints) -> str:
    """A JSON request's fingerprint: method, path and body (kept by read_body for the handler;
    413 above the app's limit)."""
    return fingerprints.of(request, await read_body(request))


FINGERPRINTS = web.AppKey("idempotency_fingerprints", Fingerprints)
RequestFingerprint = Callable[[web.Request, Fingerprints], Awaitable[str]]
Handler = Callable[Concatenate[web.Request, RecordAnswer[R] | None, P], Awaitable[R]]
Wrapped = Callable[Concatenate[web.Request, P], Awaitable[web.StreamResponse]]


def idempotent(scope: Callable[P, str], respond: Callable[[R], web.Response], *,
               fingerprint: RequestFingerprint = json_body,
               fingerprint_of_result: Callable[[web.Request, R, Fingerprints], str] | None = None,
               ) -> Callable[[Handler[R, P]], Wrapped[P]]:
    """Make a creating handler honour the Idempotency-Key header.

    The handler is called as `handler(request, record, *args)` and returns its use case's result;
    it passes `record` (None without a key) to the use case, which runs it in its transaction.
    `respond(result)` builds the response. `scope(*args)` names whose keys these are.
    `fingerprint(request, fingerprints)` is the request's fingerprint; with
    `fingerprint_of_result`, the first request's comes from its result instead, and
    `fingerprint` is only computed to compare a retry with a stored answer."""

    def decorate(handler: Handler[R, P]) -> Wrapped[P]:
        @functools.wraps(handler)
        async def wrapper(request: web.Request, /, *args: P.args, **kwargs: P.kwargs) -> web.StreamResponse:
            raw_key = request.headers.get(HEADER)
            if raw_key is None:
                return respond(await handler(request, None, *args, **kwargs))
            key = _Key(request, scope(*args, **kwargs), parse_key(raw_key), fingerprint, fingerprint_of_result)
            return await key.run(lambda record: handler(request, record, *args, **kwargs), respond)

        return wrapper

    return decorate


class _Key(Generic[R]):
    """One keyed request: its claim, then its handler or the stored answer."""

    def __init__(self, request: web.Request, scope: str, key: str, fingerprint: RequestFingerprint,
                 fingerprint_of_result: Callable[[web.Request, R, Fingerprints], str] | None) -> None:
        container = request.app[CONTAINER]
        self._request = request
        self._store = container.idempotency_store()
        self._fingerprints = request.app[FINGERPRINTS]
        self._fingerprint = fingerprint
        self._fingerprint_of_result = fingerprint_of_result
        now = container.clock().now()
        self._abandoned_before = now - ABANDONED_AFTER
        self._claim = KeyClaim(scope=scope, key_hash=hashlib.sha256(key.encode()).hexdigest(), claimed_at=now,
                               expires_at=now + RETENTION)
        self._answer: web.Response | None = None

    async def run(self, handler: Callable[[RecordAnswer[R] | None], Awaitable[R]],
                  respond: Callable[[R], web.Response]) -> web.StreamResponse:
        upfront = None if self._fingerprint_of_result is not None else await self._fingerprint(
            self._request, self._fingerprints)
        held = await self._store.claim(self._claim, abandoned_before=self._abandoned_before)
        if held is not None:
            if held.in_flight:
                raise web.HTTPConflict(text=f"A request with this {HEADER} is still in progress; retry later.",
                                       headers={"Retry-After": "1"})
            mine = upfront if upfront is not None else await self._fingerprint(self._request, self._fingerprints)
            if held.fingerprint is None or not hmac.compare_digest(mine, held.fingerprint):
                raise web.HTTPUnprocessableEntity(text=f"This {HEADER} was already used for a different request.")
            assert held.replay is not None
            return _replay(held.replay)

        async def record(answers: IdempotencyAnswers, result: R) -> None:
            response = respond(result)
            if upfront is not None:
                fingerprint = upfront
            else:
                assert self._fingerprint_of_result is not None
                fingerprint = self._fingerprint_of_result(self._request, result, self._fingerprints)
            if not await answers.record(self._claim, fingerprint, _encode(response)):
                raise web.HTTPConflict(text=f"A request with this {HEADER} is still in progress; retry later.",
                                       headers={"Retry-After": "1"})  # taken over as abandoned: ours wrote nothing
            self._answer = response

        try:
            await handler(record)
        except BaseException:
            await self._release()
            raise
        if self._answer is None:  # the use case never ran `record`: a wiring mistake, not the client's
            await self._release()
            raise RuntimeError(f"{self._request.method} {self._request.path}: the answer was not recorded")
        return self._answer

    async def _release(self) -> None:
        with contextlib.suppress(ServiceUnavailable):  # else it frees itself after ABANDONED_AFTER
            await self._store.release(self._claim)


def _encode(response: web.Response) -> bytes:
    """The replay record: a JSON line (status, content type, the headers worth keeping), then the body."""
    body = response.body
    assert isinstance(body, bytes | bytearray), "idempotent handlers answer with an in-memory body"
    headers = [[name, response.headers[name]] for name in _KEPT_HEADERS if name in response.headers]
    return orjson.dumps([response.status, response.content_type, headers]) + b"\n" + body


def _replay(record: bytes) -> web.Response:
    head, _, body = record.partition(b"\n")  # a compact JSON line holds no raw newline
    status, content_type, headers = orjson.loads(head)
    return web.Response(status=status, body=body, content_type=content_type,
                        headers={**dict(headers), REPLAYED: "true"})
