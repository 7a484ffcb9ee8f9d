from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from billing.domain.model import NotFound, ProfileChanges, User
from billing.domain.model.clock import to_millis
from billing.domain.model.validation import UNSET
from billing.ports import Clock, PasswordHasher, UnitOfWork


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateProfileCommand:
    user: User
    fields: Mapping[str, object]


class UpdateProfile:
    """Change names, password and/or reminder preference of the calling user (partial update).

    The email address cannot change. A new password takes effect at once: the stored hash
    changes, and cached verifications are keyed by that hash.
    """

    def __init__(self, uow: UnitOfWork, hasher: PasswordHasher, clock: Clock) -> None:
        self._uow = uow
        self._hasher = hasher
        self._clock = clock

    async def execute(self, command: UpdateProfileCommand) -> User:
        changes = ProfileChanges.from_mapping(command.fields, command.user.email_address)
        new_hash = UNSET if changes.password is UNSET else await self._hasher.hash(changes.password)
        async with self._uow as uow:
            user = await uow.users.get(command.user.id)
            if user is None:
                raise NotFound()
            updated = replace(
                user,
                first_name=user.first_name if changes.first_name is UNSET else changes.first_name,
                last_name=user.last_name if changes.last_name is UNSET else changes.last_name,
                password_hash=user.password_hash if new_hash is UNSET else new_hash,
                reminder_days=user.reminder_days if changes.reminder_days is UNSET else changes.reminder_days,
                account_updated=to_millis(self._clock.now()),
            )
            await uow.users.update(updated)
            await uow.commit()
        return updated
