from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Protocol

from billing.domain.model.legacy import CopiedObject


class FileStore(Protocol):
    """Object storage for attachment bytes (S3 in production, the emulator locally)."""

    async def put(self, key: str, chunks: AsyncIterable[bytes], *, content_type: str) -> None:
        """Stream `chunks` to `key` without holding the whole file in memory.

        If iterating `chunks` raises (the size limit, a dropped client), the upload is aborted
        and nothing is left under `key`; the error propagates. Raises ServiceUnavailable when
        storage cannot be reached.
        """
        ...

    async def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error."""
        ...

    async def download_url(self, key: str, file_name: str) -> str:
        """A short-lived URL that downloads the object as `file_name` (a pre-signed GET)."""
        ...

    async def copy_from(self, source_bucket: str, source_key: str, key: str, *, content_type: str) -> CopiedObject:
        """Copy `source_key` of another bucket to `key` inside storage (server-side: the bytes do
        not pass through this process) and report the copy's size, md5 and sha256 as storage
        computed them. When `key` already exists, nothing is copied and its facts are reported
        (`copied=False`), so a repeated import costs one lookup. Raises NotFound when the source
        object does not exist, ServiceUnavailable when storage cannot be reached.
        """
        ...
