"""The FileStore port on S3: streamed multipart uploads, pre-signed downloads."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import re
from collections.abc import AsyncIterable
from typing import Any
from urllib.parse import quote

from botocore.exceptions import ClientError

from billing.adapters.aws.clients import AwsClients
from billing.adapters.aws.errors import aws_call, error_code
from billing.adapters.null_metrics import NullMetrics
from billing.domain.model import NotFound
from billing.domain.model.legacy import CopiedObject
from billing.ports.metrics import Metrics

# S3's smallest allowed part (except the last). Small parts keep the server's memory flat:
# one part is gathered, joined once, sent, and dropped, whatever the file's size.
PART_SIZE = 5 * 1024 * 1024
_PLAIN_ETAG = re.compile(r'"?([0-9a-f]{32})"?')  # single-part, not SSE-KMS: the ETag is the md5


class S3FileStore:
    def __init__(self, clients: AwsClients, bucket: str, url_expiry_seconds: int,
                 metrics: Metrics | None = None) -> None:
        self._clients = clients
        self._bucket = bucket
        self._expiry = url_expiry_seconds
        self._metrics: Metrics = metrics or NullMetrics()

    def _call(self, operation: str) -> contextlib.AbstractContextManager[None]:
        return aws_call(self._metrics, "S3", operation)

    @property
    def _s3(self) -> Any:
        return self._clients["s3"]

    async def put(self, key: str, chunks: AsyncIterable[bytes], *, content_type: str) -> None:
        pending: list[bytes] = []  # chunks of the part being gathered; joined once, when full
        pending_size = 0
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        try:
            async for chunk in chunks:
                pending.append(chunk)
                pending_size += len(chunk)
                if pending_size >= PART_SIZE:
                    if upload_id is None:
                        upload_id = await self._start_multipart(key, content_type)
                    body = b"".join(pending)
                    pending.clear()
                    pending_size = 0
                    parts.append(await self._upload_part(key, upload_id, len(parts) + 1, body))
                    del body
            body = b"".join(pending)
            if upload_id is None:  # small file: one request
                with self._call("put_object"):
                    await self._s3.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType=content_type,
                                              ServerSideEncryption="AES256")
                return
            if body:
                parts.append(await self._upload_part(key, upload_id, len(parts) + 1, body))
            with self._call("complete_multipart_upload"):
                await self._s3.complete_multipart_upload(Bucket=self._bucket, Key=key, UploadId=upload_id,
                                                         MultipartUpload={"Parts": parts})
        except BaseException:
            if upload_id is not None:
                await asyncio.shield(self._abort(key, upload_id))
            raise

    async def _start_multipart(self, key: str, content_type: str) -> str:
        with self._call("create_multipart_upload"):
            response = await self._s3.create_multipart_upload(Bucket=self._bucket, Key=key, ContentType=content_type,
                                                              ServerSideEncryption="AES256")
        return str(response["UploadId"])

    async def _upload_part(self, key: str, upload_id: str, number: int, body: bytes) -> dict[str, Any]:
        with self._call("upload_part"):
            response = await self._s3.upload_part(Bucket=self._bucket, Key=key, UploadId=upload_id, PartNumber=number,
                                                  Body=body)
        return {"ETag": response["ETag"], "PartNumber": number}

    async def _abort(self, key: str, upload_id: str) -> None:
        # Best effort: an upload we cannot abort is removed by the lifecycle rule.
        with contextlib.suppress(Exception), self._call("abort_multipart_upload"):
            await self._s3.abort_multipart_upload(Bucket=self._bucket, Key=key, UploadId=upload_id)

    async def delete(self, key: str) -> None:
        with self._call("delete_object"):
            await self._s3.delete_object(Bucket=self._bucket, Key=key)

    async def download_url(self, key: str, file_name: str) -> str:
        params = {"Bucket": self._bucket, "Key": key, "ResponseContentDisposition": content_disposition(file_name)}
        return str(await self._s3.generate_presigned_url("get_object", Params=params, ExpiresIn=self._expiry))

    async def copy_from(self, source_bucket: str, source_key: str, key: str, *, content_type: str) -> CopiedObject:
        here = await self._head(self._bucket, key)
        if here is not None:
            md5, sha256 = _md5(here), _sha256(here)
            if md5 is None or sha256 is None:
                md5, sha256 = await self._hash(key)
            return CopiedObject(size=int(here["ContentLength"]), md5=md5, sha256=sha256, copied=False)
        source = await self._head(source_bucket, source_key)
        if source is None:
            raise NotFound(f"s3://{source_bucket}/{source_key} does not exist")
        with self._call("copy_object"):
            response = await self._s3.copy_object(
                Bucket=self._bucket, Key=key, CopySource={"Bucket": source_bucket, "Key": source_key},
                CopySourceIfMatch=source["ETag"],  # the object we looked at, not one replaced meanwhile
                MetadataDirective="REPLACE", ContentType=content_type, ServerSideEncryption="AES256",
                ChecksumAlgorithm="SHA256",  # S3 computes the copy's sha256 as it writes it
            )
        result = response["CopyObjectResult"] | {"ServerSideEncryption": "AES256"}
        md5, sha256 = _md5(result), _sha256(result)
        if md5 is None or sha256 is None:  # a multipart copy: its ETag and checksum are not whole-object digests
            md5, sha256 = await self._hash(key)
        return CopiedObject(size=int(source["ContentLength"]), md5=md5, sha256=sha256, copied=True)

    async def _head(self, bucket: str, key: str) -> dict[str, Any] | None:
        try:
            with self._call("head_object"):
                return dict(await self._s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED"))
        except ClientError as exc:
            if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    async def _hash(self, key: str) -> tuple[str, str]:
        """md5 and sha256 of a stored object, read in 1 MiB pieces (memory stays flat)."""
        md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
        with self._call("get_object"):
            response = await self._s3.get_object(Bucket=self._bucket, Key=key)
            async with response["Body"] as body:
                while chunk := await body.read(1024 * 1024):
                    md5.update(chunk)
                    sha256.update(chunk)
        return md5.hexdigest(), sha256.hexdigest()


def _md5(facts: dict[str, Any]) -> str | None:
    match = _PLAIN_ETAG.fullmatch(str(facts.get("ETag", "")))
    return match[1] if match and facts.get("ServerSideEncryption") != "aws:kms" else None


def _sha256(facts: dict[str, Any]) -> str | None:
    value = facts.get("ChecksumSHA256")
    if not value or "-" in value or facts.get("ChecksumType") == "COMPOSITE":
        return None
    return base64.b64decode(value).hex()


def content_disposition(file_name: str) -> str:
    """RFC 6266: an ASCII fallback plus the exact UTF-8 name (RFC 8187)."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in file_name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(file_name, safe='')}"
