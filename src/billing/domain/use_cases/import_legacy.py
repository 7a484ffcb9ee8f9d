from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from typing import Protocol, TypeVar
from uuid import UUID

from billing.domain.model import Attachment, Bill, NotFound, User, ValidationFailed
from billing.domain.model.legacy import (
    attachment_from_legacy,
    bill_from_legacy,
    legacy_object_key,
    user_from_legacy,
)
from billing.ports import FileStore, LegacySource, UnitOfWork

USER, BILL, ATTACHMENT = "user", "bill", "attachment"
KINDS = (USER, BILL, ATTACHMENT)
COPY_CONCURRENCY = 8  # server-side copies in flight at once: the bytes do not pass through here
R = TypeVar("R")
T = TypeVar("T")


class ImportProgress(Protocol):
    """Told how far the import is (the CLI draws a bar with it)."""

    def phase(self, name: str, total: int) -> None: ...

    # A protocol's default is never run (its implementations' defaults are): nothing to mutate.
    def advance(self, rows: int = 1) -> None: ...  # pragma: no mutate


class _Silent:
    def phase(self, name: str, total: int) -> None:
        pass

    def advance(self, rows: int = 1) -> None:  # pragma: no mutate (it ignores `rows`: its default cannot matter)
        pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportLegacyDataCommand:
    dry_run: bool = False  # read, judge and count everything; write nothing (no copies either)
    batch_size: int = 500  # rows per transaction
    old_bucket: str | None = None  # copy attachment objects from this bucket; None: metadata only
    progress: ImportProgress = field(default_factory=_Silent)


@dataclass(frozen=True, slots=True)
class SkippedRow:
    kind: str  # user, bill or attachment
    id: str  # the old row's id, as stored
    reasons: tuple[str, ...]  # "field: message", generic so that rows group by reason
    detail: str = ""  # what is particular to this row (e.g. the account that keeps an address)


@dataclass(slots=True)
class ImportReport:
    """What a run did (or, dry, would do). Rows already present count apart from problem rows."""

    dry_run: bool
    imported: Counter[str] = field(default_factory=Counter)
    already_present: Counter[str] = field(default_factory=Counter)
    skipped: list[SkippedRow] = field(default_factory=list)
    copied_objects: int = 0  # dry run: objects a run would copy
    objects_already_copied: int = 0
    objects_not_copied: int = 0  # attachment rows imported without --s3-bucket: their bytes are not here

    def skip(self, kind: str, row_id: str, reasons: Sequence[str], detail: str = "") -> None:
        self.skipped.append(SkippedRow(kind, row_id, tuple(reasons), detail))

    def count(self, counter: Counter[str], kind: str, n: int = 1) -> None:
        if n:  # no zero entries: a report compares equal to the plain dict of what happened
            counter[kind] += n

    def by_reason(self) -> dict[tuple[str, str], list[SkippedRow]]:
        """Problem rows grouped by (kind, reason); a row with two problems is under both."""
        groups: dict[tuple[str, str], list[SkippedRow]] = {}
        for row in self.skipped:
            for reason in row.reasons:
                groups.setdefault((row.kind, reason), []).append(row)
        return groups


@dataclass(slots=True)
class _Run:
    command: ImportLegacyDataCommand
    report: ImportReport
    users_here: set[UUID] = field(default_factory=set)  # old users that are (dry run: would be) here
    dry_bills: set[UUID] = field(default_factory=set)  # dry run: bills a run would import
    attachment_of: dict[UUID, UUID] = field(default_factory=dict)  # bill -> attachment taken in this run


def _reasons(exc: ValidationFailed) -> list[str]:
    return [f"{e.field}: {e.message}" for e in exc.errors]


class ImportLegacyData:
    """Bring the old webapp's users, bills and attachments over, keeping their ids.

    Each old row is judged by the domain's rules (`user_from_legacy`, `bill_from_legacy`,
    `attachment_from_legacy`, which reuse AccountDetails and BillDetails); a row that breaks one is
    reported with its reasons and skipped, never altered. Of accounts whose addresses differ only in
    case, the oldest keeps the address and the others are reported. A bill is imported only when its
    user is here, an attachment only when its bill is here and has no other attachment.

    With `old_bucket`, each new attachment's object is copied server-side from the old key
    (`<BillId>_<file_name>`) to ours and checked against the recorded md5 and size before its row
    is written; a missing or different object is reported, and a bad copy deleted. A copied object
    whose row then fails to be written is deleted too.

    Writes go in batches of `batch_size` rows, one transaction each, so a large import holds no
    giant transaction; rows already present (by id) are counted and left alone, which makes a second
    run import nothing and an interrupted run resume where it stopped. `dry_run` writes and copies
    nothing. Raises LegacySourceError when the old database cannot be read and ServiceUnavailable
    when our database or storage cannot be reached; batches committed before the error stay.
    """

    def __init__(self, uow: UnitOfWork, source: LegacySource, store: FileStore) -> None:
        self._uow = uow
        self._source = source
        self._store = store

    async def execute(self, command: ImportLegacyDataCommand) -> ImportReport:
        run = _Run(command, ImportReport(dry_run=command.dry_run))
        counts = await self._source.counts()
        command.progress.phase("users", counts.users)
        await self._import_users(run)
        command.progress.phase("bills", counts.bills)
        await self._import_bills(run)
        command.progress.phase("attachments", counts.attachments)
        await self._import_attachments(run)
        return run.report

    async def _import_users(self, run: _Run) -> None:
        first_owner: dict[str, UUID] = {}  # canonical address -> the oldest account using it

        def judge(row_id: str, user: User) -> bool:
            older = first_owner.setdefault(user.email_address, user.id)
            if older != user.id:
                run.report.skip(USER, row_id, ["email_address: differs only in case from an older account's address"],
                                f"the older account {older} keeps it")
            return older == user.id

        await self._batches(run, self._source.users(), user_from_legacy, judge, USER, self._add_users)

    async def _import_bills(self, run: _Run) -> None:
        def judge(row_id: str, bill: Bill) -> bool:
            if bill.owner_id not in run.users_here:
                run.report.skip(BILL, row_id, ["UserId: its user was not imported"], f"user {bill.owner_id}")
                return False
            return True

        await self._batches(run, self._source.bills(), bill_from_legacy, judge, BILL, self._add_bills)

    async def _import_attachments(self, run: _Run) -> None:
        await self._batches(run, self._source.attachments(), attachment_from_legacy, lambda _id, _a: True, ATTACHMENT,
                            self._add_attachments)

    async def _batches(self, run: _Run, rows: AsyncGenerator[R, None], convert: Callable[[R], T],
                       judge: Callable[[str, T], bool], kind: str,
                       flush: Callable[[_Run, list[tuple[R, T]]], Awaitable[None]]) -> None:
        """Convert each old row (reporting those the rules refuse), then hand them on in batches."""
        batch: list[tuple[R, T]] = []
        async with aclosing(rows) as stream:
            async for row in stream:
                run.command.progress.advance()
                row_id: str = row.id  # type: ignore[attr-defined]
                try:
                    entity = convert(row)
                except ValidationFailed as exc:
                    run.report.skip(kind, row_id, _reasons(exc))
                    continue
                if judge(row_id, entity):
                    batch.append((row, entity))
                if len(batch) >= run.command.batch_size:
                    await flush(run, batch)
                    batch = []
        if batch:
            await flush(run, batch)

    async def _add_users(self, run: _Run, batch: Sequence[tuple[object, User]]) -> None:
        report = run.report
        async with self._uow as uow:
            present = await uow.users.existing_ids([u.id for _, u in batch])
            owners = await uow.users.ids_by_email([u.email_address for _, u in batch])
            new: list[User] = []
            for _, user in batch:
                if user.id in present:
                    report.count(report.already_present, USER)
                    run.users_here.add(user.id)
                    continue
                other = owners.get(user.email_address)
                if other is not None:
                    report.skip(USER, str(user.id), ["email_address: is already registered here by another account"],
                                f"account {other}")
                    continue
                new.append(user)
                run.users_here.add(user.id)
            report.count(report.imported, USER, len(new))
            if new and not run.command.dry_run:
                await uow.users.add_many(new)
                await uow.commit()

    async def _add_bills(self, run: _Run, batch: Sequence[tuple[object, Bill]]) -> None:
        report = run.report
        async with self._uow as uow:
            present = await uow.bills.existing_ids([b.id for _, b in batch])
            new = [b for _, b in batch if b.id not in present]
            report.count(report.already_present, BILL, len(batch) - len(new))
            report.count(report.imported, BILL, len(new))
            if run.command.dry_run:
                run.dry_bills.update(b.id for b in new)
            elif new:
                await uow.bills.add_many(new)
                await uow.commit()

    async def _add_attachments(self, run: _Run, batch: Sequence[tuple[object, Attachment]]) -> None:
        report = run.report
        bill_ids = {a.bill_id for _, a in batch}
        async with self._uow as uow:
            bills_here = await uow.bills.existing_ids(bill_ids) | (bill_ids & run.dry_bills)
            attached = dict(await uow.attachments.ids_by_bill(bill_ids))
        new: list[tuple[str, Attachment]] = []  # (the old object key, our row)
        present: list[tuple[str, Attachment]] = []
        for row, attachment in batch:
            old_key = legacy_object_key(row.bill_id, row.file_name)  # type: ignore[attr-defined]
            if attachment.bill_id not in bills_here:
                report.skip(ATTACHMENT, str(attachment.id), ["BillId: its bill was not imported"],
                            f"bill {attachment.bill_id}")
                continue
            holder = attached.get(attachment.bill_id) or run.attachment_of.get(attachment.bill_id)
            if holder == attachment.id:
                present.append((old_key, attachment))
            elif holder is not None:
                report.skip(ATTACHMENT, str(attachment.id),
                            ["BillId: its bill already has another attachment (one per bill)"], f"attachment {holder}")
            else:
                run.attachment_of[attachment.bill_id] = attachment.id
                new.append((old_key, attachment))
        report.count(report.already_present, ATTACHMENT, len(present))
        bucket = run.command.old_bucket
        if run.command.dry_run or bucket is None:
            report.count(report.imported, ATTACHMENT, len(new))
            if bucket is None:
                report.objects_not_copied += len(new)
            else:
                report.copied_objects += len(new)
            if not run.command.dry_run and new:
                async with self._uow as uow:
                    await uow.attachments.add_many([a for _, a in new])
                    await uow.commit()
            return
        # Rows already present from a metadata-only run may still lack their object: copy_from
        # only looks when the object is there already.
        await self._copy_all(run, bucket, present)
        verified = await self._copy_all(run, bucket, new)
        report.count(report.imported, ATTACHMENT, len(verified))
        if not verified:
            return
        try:
            async with self._uow as uow:
                await uow.attachments.add_many(verified)
                await uow.commit()
        except BaseException:
            # The rows are not written: their copies must not stay behind as orphans.
            await asyncio.shield(asyncio.gather(*(self._store.delete(a.object_key) for a in verified),
                                                return_exceptions=True))
            raise

    async def _copy_all(self, run: _Run, bucket: str, items: list[tuple[str, Attachment]]) -> list[Attachment]:
        """Copy and verify each object (a few at a time); the attachments whose objects check out,
        with the sha256 storage computed."""
        limit = asyncio.Semaphore(COPY_CONCURRENCY)

        async def one(old_key: str, attachment: Attachment) -> Attachment | None:
            async with limit:
                return await self._copy(run, bucket, old_key, attachment)

        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(old_key, a)) for old_key, a in items]
        return [a for task in tasks if (a := task.result()) is not None]

    async def _copy(self, run: _Run, bucket: str, old_key: str, attachment: Attachment) -> Attachment | None:
        report = run.report
        try:
            copied = await self._store.copy_from(bucket, old_key, attachment.object_key,
                                                 content_type=attachment.mime_type)
        except NotFound:
            report.skip(ATTACHMENT, str(attachment.id), ["object: is not in the old bucket"], f"s3://{bucket}/{old_key}")
            return None
        problems = []
        if copied.md5 != attachment.md5:
            problems.append("md5: the object's md5 differs from the recorded one")
        if copied.size != attachment.size:
            problems.append("size: the object's size differs from the recorded one")
        if problems:
            if copied.copied:
                await self._store.delete(attachment.object_key)
            report.skip(ATTACHMENT, str(attachment.id), problems,
                        f"s3://{bucket}/{old_key}: {copied.size} bytes, md5 {copied.md5}")
            return None
        if copied.copied:
            report.copied_objects += 1
        else:
            report.objects_already_copied += 1
        return replace(attachment, sha256=copied.sha256)
