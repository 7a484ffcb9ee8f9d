from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from uuid import uuid4

from billing.domain.model import EmailAlreadyRegistered, FieldError, Registration, User, ValidationFailed
from billing.domain.model.clock import to_millis
from billing.domain.model.throttle import RegistrationRules
from billing.domain.use_cases.throttle import Throttle
from billing.ports import Clock, PasswordHasher, RecordAnswer, UnitOfWork


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterUserCommand:
    fields: Mapping[str, object]  # as the client sent them; validated here
    record_answer: RecordAnswer[User] | None = None  # runs in the transaction, with the new user
    client_address: str = ""  # where the request comes from (throttling); "" when unknown


class RegisterUser:
    """Create an account. Raises ValidationFailed for bad fields or an email already in use, and
    TooManyAttempts when the client address has registered too often lately (RegistrationRules):
    a valid registration is counted before anything is looked up or hashed, whatever its outcome
    (so probing which addresses are taken is limited too).

    The user, and whatever `record_answer` records, commit in one transaction."""

    def __init__(self, uow: UnitOfWork, hasher: PasswordHasher, clock: Clock, throttle: Throttle,
                 rules: RegistrationRules) -> None:
        self._uow = uow
        self._hasher = hasher
        self._clock = clock
        self._throttle = throttle
        self._rules = rules

    async def execute(self, command: RegisterUserCommand) -> User:
        registration = Registration.from_mapping(command.fields)
        await self._throttle.reserve(self._rules.quota(command.client_address))
        taken = ValidationFailed(FieldError("email_address", "is already registered"))
        async with self._uow as uow:
            if await uow.users.get_by_email(registration.email_address) is not None:
                raise taken
        # Hash outside the transaction: it is the slow part and needs no connection.
        password_hash = await self._hasher.hash(registration.password)
        now = to_millis(self._clock.now())
        user = User(
            id=uuid4(),
            first_name=registration.first_name,
            last_name=registration.last_name,
            email_address=registration.email_address,
            password_hash=password_hash,
            account_created=now,
            account_updated=now,
            reminder_days=registration.reminder_days,
        )
        async with self._uow as uow:
            try:
                await uow.users.add(user)  # the unique index settles a concurrent duplicate
            except EmailAlreadyRegistered:
                raise taken from None
            if command.record_answer is not None:
                await command.record_answer(uow.idempotency, user)
            await uow.commit()
        return user
