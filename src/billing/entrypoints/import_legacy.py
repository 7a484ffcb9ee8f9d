"""`billing import-legacy`: the old webapp's data into ours, a progress bar, and a summary."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import TextIO

from billing.container import Container, init_resource, shutdown_resources
from billing.domain.use_cases.import_legacy import KINDS, ImportLegacyDataCommand, ImportReport


class ProgressBar:
    """A one-line bar on a terminal (stderr), redrawn at most ten times a second; silent elsewhere,
    so logs and pipes get only the summary."""

    WIDTH = 30

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._enabled = stream.isatty()
        self._name, self._total, self._done, self._drawn_at = "", 0, 0, 0.0

    def phase(self, name: str, total: int) -> None:
        self.finish()
        self._name, self._total, self._done, self._drawn_at = name, total, 0, 0.0
        self._draw()

    def advance(self, rows: int = 1) -> None:
        self._done += rows
        if self._enabled and (time.monotonic() - self._drawn_at >= 0.1 or self._done >= self._total):
            self._draw()

    def finish(self) -> None:
        if self._enabled and self._name:
            self._draw()
            self._stream.write("\n")
            self._stream.flush()
            self._name = ""

    def _draw(self) -> None:
        if not self._enabled:
            return
        self._drawn_at = time.monotonic()
        share = min(self._done / self._total, 1.0) if self._total else 1.0
        filled = int(share * self.WIDTH)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self._stream.write(f"\r{self._name:<12} [{bar}] {self._done}/{self._total} {share:4.0%}")
        self._stream.flush()


def run_import(container: Container, *, source_url: str, old_bucket: str | None, dry_run: bool, batch_size: int,
               stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr) -> int:
    """0 when the import ran (skipped rows are reported, not fatal). When it could not, the error
    propagates: LegacySourceError (the old database cannot be read, or is not the old webapp's)
    and ServiceUnavailable (ours, or the bucket) become one line in entrypoints/cli.py."""
    command = ImportLegacyDataCommand(dry_run=dry_run, batch_size=batch_size, old_bucket=old_bucket,
                                      progress=ProgressBar(stderr))
    report = asyncio.run(_import(container, source_url, command))
    stdout.write(summary(report))
    return 0


async def _import(container: Container, source_url: str, command: ImportLegacyDataCommand) -> ImportReport:
    source = container.legacy_source(source_url)
    try:
        await init_resource(container.engine_lifetime)
        if command.old_bucket and not command.dry_run:  # storage only when objects are to be copied
            await init_resource(container.aws_clients_lifetime)
        use_case = container.import_legacy_data(source=source)
        return await use_case.execute(command)
    finally:
        if isinstance(command.progress, ProgressBar):
            command.progress.finish()
        await source.close()
        await shutdown_resources(container)


def _counts(counter: dict[str, int]) -> str:
    return ", ".join(f"{counter.get(kind, 0)} {kind}s" for kind in KINDS)


def summary(report: ImportReport) -> str:
    """The end-of-run report: what was imported, what was skipped and why, objects copied."""
    lines = ["billing import-legacy: DRY RUN, nothing was written" if report.dry_run else "billing import-legacy: done"]
    lines.append(f"{'would import' if report.dry_run else 'imported'}: {_counts(report.imported)}")
    lines.append(f"skipped, already present: {_counts(report.already_present)}")
    groups = report.by_reason()
    lines.append(f"skipped, cannot be imported as they are: {len(report.skipped)} rows"
                 + (" (fix them in the old database and run again)" if report.skipped else ""))
    for (kind, reason), rows in sorted(groups.items(), key=lambda g: (KINDS.index(g[0][0]), g[0][1])):
        lines.append(f"  {kind} {reason}: {len(rows)}")
        lines += [f"    {row.id}" + (f" ({row.detail})" if row.detail else "") for row in rows]
    if report.dry_run:
        lines.append(f"objects to copy: {report.copied_objects} (a dry run neither copies nor checks them)")
    else:
        lines.append(f"objects copied: {report.copied_objects} (md5 checked), already copied: "
                     f"{report.objects_already_copied}")
    if report.objects_not_copied:
        lines.append(f"objects not copied: {report.objects_not_copied} attachments imported without their "
                     "files (run again with --s3-bucket OLD to copy them)")
    return "\n".join(lines) + "\n"
