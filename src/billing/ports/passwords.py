from __future__ import annotations

from typing import Protocol


class VerificationGate(Protocol):
    """What a password verification passes on its way to the (deliberately slow) hash: sign-in
    throttling reserves the attempt in `admit` and gives a correct one back in `settle`."""

    async def admit(self) -> None:
        """Called right before a hash is computed; raises (TooManyAttempts) to refuse, and then
        nothing is computed."""
        ...

    async def settle(self, verified: bool) -> None:
        """Called with the outcome of the computation `admit` let through."""
        ...


class PasswordHasher(Protocol):
    """One-way password hashing. Implementations never block the event loop."""

    async def hash(self, password: str) -> str:
        """A new hash of `password` in the preferred scheme."""
        ...

    async def verify(self, password: str, password_hash: str, gate: VerificationGate | None = None) -> bool:
        """True when `password` matches `password_hash` (any supported scheme); never raises on mismatch.

        A success with this very hash and password may be remembered for a short while and
        answered from memory: such an answer passes no gate. Any other answer is computed after
        `gate.admit()` (whose exception propagates) and followed by `gate.settle(result)`.
        Concurrent identical verifications may share one computation, one gate and one outcome,
        a refusal included. A failure costs the same whatever the hash (scheme, length limits,
        malformed): the decoy's cost at least."""
        ...

    async def verify_decoy(self, password: str, gate: VerificationGate | None = None) -> None:
        """Spend the time of a failed verification when there is no account to check against;
        through `gate` like any computed verification."""
        ...

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash uses an outdated scheme or parameters and should be replaced after a login."""
        ...
