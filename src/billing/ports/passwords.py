from __future__ import annotations

from typing import Protocol


class PasswordHasher(Protocol):
    """One-way password hashing. Implementations never block the event loop."""

    async def hash(self, password: str) -> str:
        """A new hash of `password` in the preferred scheme."""
        ...

    async def verify(self, password: str, password_hash: str) -> bool:
        """True when `password` matches `password_hash` (any supported scheme); never raises on mismatch."""
        ...

    async def verify_decoy(self, password: str) -> None:
        """Spend the time of a failed verification when there is no account to check against."""
        ...

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash uses an outdated scheme or parameters and should be replaced after a login."""
        ...
