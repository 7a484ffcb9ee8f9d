from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Protocol

from billing.domain.model.legacy import LegacyAttachment, LegacyBill, LegacyCounts, LegacyUser


class LegacySource(Protocol):
    """The old webapp's database, read-only. Rows come as stored (no cleaning: the domain judges
    them), streamed so a large table is never held in memory.

    Every method raises LegacySourceError when the old database cannot be reached or does not
    have the old webapp's tables and columns.
    """

    async def counts(self) -> LegacyCounts:
        """How many rows each old table holds (for progress reporting)."""
        ...

    def users(self) -> AsyncGenerator[LegacyUser, None]:
        """Every user, oldest account first (`account_created`, then `id`): when two addresses
        differ only in case, the account that registered first is met first."""
        ...

    def bills(self) -> AsyncGenerator[LegacyBill, None]:
        """Every bill, ordered by `id`."""
        ...

    def attachments(self) -> AsyncGenerator[LegacyAttachment, None]:
        """Every attachment row, ordered by `id`."""
        ...

    async def close(self) -> None:
        """Release the connections; the source is not used afterwards."""
        ...
