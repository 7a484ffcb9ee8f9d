from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Protocol


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
