"""The FileStore port on S3: streamed multipart uploads, pre-signed downloads."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable
from typing import Any
from urllib.parse import quote

from billing.adapters.aws.clients import AwsClients
from billing.adapters.aws.errors import aws_errors
from billing.adapters.metrics.timing import timed
from billing.adapters.null_metrics import NullMetrics
from billing.ports.metrics import AWS_DURATION, Metrics

# S3's smallest allowed part (except the last). Small parts keep the server's memory flat:
# one part is gathered, joined once, sent, and dropped, whatever the file's size.
PART_SIZE = 5 * 1024 * 1024


class S3FileStore:
    def __init__(self, clients: AwsClients, bucket: str, url_expiry_seconds: int,
                 metrics: Metrics | None = None) -> None:
        self._clients = clients
        self._bucket = bucket
        self._expiry = url_expiry_seconds
        self._metrics: Metrics = metrics or NullMetrics()

    def _timed(self, operation: str) -> contextlib.AbstractContextManager[None]:
        return timed(self._metrics, AWS_DURATION, service="s3", operation=operation)

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
            with aws_errors("S3"):
                if upload_id is None:  # small file: one request
                    with self._timed("put_object"):
                        await self._s3.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType=content_type,
                                                  ServerSideEncryption="AES256")
                    return
                if body:
                    parts.append(await self._upload_part(key, upload_id, len(parts) + 1, body))
                with self._timed("complete_multipart_upload"):
                    await self._s3.complete_multipart_upload(Bucket=self._bucket, Key=key, UploadId=upload_id,
                                                             MultipartUpload={"Parts": parts})
        except BaseException:
            if upload_id is not None:
                await asyncio.shield(self._abort(key, upload_id))
            raise

    async def _start_multipart(self, key: str, content_type: str) -> str:
        with aws_errors("S3"), self._timed("create_multipart_upload"):
            response = await self._s3.create_multipart_upload(Bucket=self._bucket, Key=key, ContentType=content_type,
                                                              ServerSideEncryption="AES256")
        return str(response["UploadId"])

    async def _upload_part(self, key: str, upload_id: str, number: int, body: bytes) -> dict[str, Any]:
        with aws_errors("S3"), self._timed("upload_part"):
            response = await self._s3.upload_part(Bucket=self._bucket, Key=key, UploadId=upload_id, PartNumber=number,
                                                  Body=body)
        return {"ETag": response["ETag"], "PartNumber": number}

    async def _abort(self, key: str, upload_id: str) -> None:
        # Best effort: an upload we cannot abort is removed by the lifecycle rule.
        with contextlib.suppress(Exception), self._timed("abort_multipart_upload"):
            await self._s3.abort_multipart_upload(Bucket=self._bucket, Key=key, UploadId=upload_id)

    async def delete(self, key: str) -> None:
        with aws_errors("S3"), self._timed("delete_object"):
            await self._s3.delete_object(Bucket=self._bucket, Key=key)

    async def download_url(self, key: str, file_name: str) -> str:
        params = {"Bucket": self._bucket, "Key": key, "ResponseContentDisposition": content_disposition(file_name)}
        return str(await self._s3.generate_presigned_url("get_object", Params=params, ExpiresIn=self._expiry))


def content_disposition(file_name: str) -> str:
    """RFC 6266: an ASCII fallback plus the exact UTF-8 name (RFC 8187)."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in file_name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(file_name, safe='')}"
