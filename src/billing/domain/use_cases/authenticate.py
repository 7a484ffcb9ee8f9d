from __future__ import annotations

from dataclasses import dataclass, field

from billing.domain.model import AuthenticationFailed, User
from billing.domain.model.clock import to_millis
from billing.domain.model.email import EmailError, normalize_email
from billing.domain.model.throttle import SignInRules
from billing.domain.use_cases.throttle import Reservation, Throttle
from billing.ports import Clock, PasswordHasher, ReadOnlyUnitOfWork, UnitOfWork


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    email_address: str
    password: str = field(repr=False)  # never in a repr (logs, tracebacks)
    client_address: str = ""  # where the attempt comes from (throttling); "" when unknown


def login_address(command: Credentials) -> str:
    """The canonical address the login names. Raises AuthenticationFailed when it is none."""
    try:
        return normalize_email(command.email_address)
    except EmailError:
        raise AuthenticationFailed() from None


class _SignInGate:
    """The VerificationGate of one sign-in: reserves the attempt before the hash is computed,
    gives it back when the password was right."""

    def __init__(self, throttle: Throttle, rules: SignInRules, credentials: Credentials) -> None:
        self._throttle = throttle
        self._rules = rules
        self._credentials = credentials
        # settle() follows a successful admit() (the PasswordHasher's contract): never read unset.
        self._reservation: Reservation | None = None  # pragma: no mutate

    async def admit(self) -> None:
        # The keys are made here, not up front: a remembered success never gets this far.
        quota = self._rules.quota(login_address(self._credentials), self._credentials.client_address)
        self._reservation = await self._throttle.reserve(quota)

    async def settle(self, verified: bool) -> None:
        if verified and self._reservation is not None:
            await self._throttle.give_back(self._reservation)


class Authenticate:
    """Who is calling: the user whose email (any case) and password match.

    Raises AuthenticationFailed otherwise, and TooManyAttempts when the sign-in is throttled
    (SignInRules): then the password was not checked. A password check that is computed (not one
    the hasher remembers as recently correct) is first reserved in the shared counters, unknown
    addresses alike, so the throttle costs nothing on the usual authenticated request. The user is
    read on every call (through `reads`, a read-only unit of work, `uow` when not given), so a
    password change counts from the very next request; the connection is given back before the
    password is verified. After a successful login with an outdated hash (bcrypt from the old
    webapp), stores a fresh Argon2id hash in its own transaction, unless the hash changed meanwhile.
    """

    def __init__(self, uow: UnitOfWork, hasher: PasswordHasher, clock: Clock, throttle: Throttle,
                 rules: SignInRules, reads: ReadOnlyUnitOfWork | None = None) -> None:
        self._uow = uow
        self._reads: UnitOfWork = reads if reads is not None else uow
        self._hasher = hasher
        self._clock = clock
        self._throttle = throttle
        self._rules = rules

    async def execute(self, command: Credentials) -> User:
        email = login_address(command)
        async with self._reads as reads:
            user = await reads.users.get_by_email(email)
        return await self.verified(command, user)

    async def verified(self, command: Credentials, user: User | None) -> User:
        """The second half of `execute`, for use cases that read the caller themselves (with what
        the caller asked for, in one query): `user` is who has the login's address, None when
        nobody. Call it after the unit of work that read `user` is left. Raises
        AuthenticationFailed or TooManyAttempts."""
        gate = _SignInGate(self._throttle, self._rules, command)
        if user is None:
            # Spend what a wrong password costs, so timing does not reveal registered addresses.
            await self._hasher.verify_decoy(command.password, gate)
            raise AuthenticationFailed()
        if not await self._hasher.verify(command.password, user.password_hash, gate):
            raise AuthenticationFailed()
        if self._hasher.needs_rehash(user.password_hash):
            new_hash = await self._hasher.hash(command.password)
            async with self._uow as uow:
                current = await uow.users.get(user.id)
                # Only the hash just verified is replaced: a password change meanwhile wins.
                if current is not None and current.password_hash == user.password_hash:
                    current.password_hash = new_hash
                    current.account_updated = to_millis(self._clock.now())
                    await uow.users.update(current)
                    await uow.commit()
                    user = current
        return user
