"""`billing serve | migrate | local | worker | remind | import-legacy`: the console script."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Callable, Sequence
from types import FrameType

from billing.config import ConfigError, Settings
from billing.container import Container, init_resources, shutdown_resources
from billing.domain.model import ServiceUnavailable
from billing.domain.model.legacy import LegacySourceError
from billing.entrypoints.listening import CannotListen
from billing.entrypoints.local_aws import EmulatorError
from billing.entrypoints.logging_setup import choose_format, configure_logging

# What a person fixes outside the program: a setting or argument, a database that cannot be
# reached or refuses us (credentials, TLS), the old webapp's database, a port that is taken.
# Each is one line on stderr naming the problem, password hidden, and exit code 2 (argparse's
# code for a bad command line too). Anything else is a bug: its traceback, exit code 1.
ONE_LINE_FAILURES: tuple[type[Exception], ...] = (ServiceUnavailable, LegacySourceError, EmulatorError, CannotListen)
# `billing import-legacy`: the old database's URL when --from is not given.
LEGACY_URL_VARIABLE = "BILLING_LEGACY_DATABASE_URL"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="billing", description="Bills, attachments and due-bills emails.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the production HTTP server")
    serve.add_argument("--workers", type=_worker_count, metavar="N",
                       help="gunicorn worker processes (default: BILLING_HTTP_WORKERS, else one per CPU)")
    commands.add_parser("migrate", help="upgrade the database schema to the newest revision")
    commands.add_parser("local", help="the embedded all-in-one (what `make run` starts)")
    commands.add_parser("worker", help="consume due-bills requests and reminders from SQS until SIGTERM")
    commands.add_parser("remind", help="run one reminder round now: queue a reminder for every user due one today")
    commands.add_parser("outbox", help="print the emails `billing local` has sent (through the emulator's SES)")
    commands.add_parser("bootstrap", help="create the AWS resources (bucket...) if missing; idempotent")
    legacy = commands.add_parser(
        "import-legacy",
        help="import users, bills and attachments from the old webapp's MySQL database",
        description="Copy the old Node.js webapp's users, bills and attachments into this service's database "
        "(BILLING_DATABASE_URL), keeping ids; rows that break our rules are reported and skipped. "
        "Safe to run again: what is already here is skipped.",
    )
    legacy.add_argument("--from", dest="source_url", metavar="URL",
                        help=f"the old database, e.g. mysql+aiomysql://user:password@host/csye6225; default: "
                        f"${LEGACY_URL_VARIABLE}, which keeps the password out of the process list")
    legacy.add_argument(
        "--s3-bucket",
        dest="old_bucket",
        metavar="OLD",
        help="the old webapp's bucket: copy each attachment's object from it (server-side, md5-checked)",
    )
    legacy.add_argument("--dry-run", action="store_true", help="read and judge everything, write nothing")
    legacy.add_argument("--batch-size", type=_batch_size, default=500, metavar="N",
                        help="rows per transaction (default: 500)")
    args = parser.parse_args(argv)
    return _reporting_failures(args.command, lambda: _run(args))


def _reporting_failures(command: str, run: Callable[[], int]) -> int:
    """The one place where a command's failures become what the person running it sees."""
    try:
        return run()
    except ConfigError as exc:
        _say(f"billing: configuration error: {exc}")
    except ONE_LINE_FAILURES as exc:
        _say(f"billing {command}: {exc}")
    return 2


def _say(line: str) -> None:
    print(" ".join(line.split()), file=sys.stderr)  # one line, whatever a driver's message holds


def _run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    configure_logging(settings.log_level_number, choose_format(settings.log_format, args.command, sys.stdout))
    handlers: dict[str, Callable[[], int]] = {
        "serve": lambda: _serve(settings, workers=args.workers),
        "migrate": lambda: _migrate(settings),
        "local": lambda: _local(settings),
        "bootstrap": lambda: _bootstrap(settings),
        "worker": lambda: _worker(settings),
        "remind": lambda: _remind(settings),
        "outbox": lambda: _outbox(settings),
        "import-legacy": lambda: _import_legacy(settings, args),
    }
    return handlers[args.command]()


def _container(settings: Settings) -> Container:
    return Container(settings=settings)


def _check_database(settings: Settings) -> None:
    """Before a long-running command starts: the database answers, or ServiceUnavailable says why."""
    asyncio.run(_container(settings).check_database())


def _migrate(settings: Settings) -> int:
    _container(settings).migrate()
    print("billing: database schema is up to date", file=sys.stderr)
    return 0


def _bootstrap(settings: Settings) -> int:
    async def bootstrap() -> None:
        container = _container(settings)
        await init_resources(container)
        try:
            await container.bootstrap()
        finally:
            await shutdown_resources(container)

    asyncio.run(bootstrap())
    print("billing: AWS resources are in place", file=sys.stderr)
    return 0


def _worker(settings: Settings) -> int:
    # A stop asked for while starting up holds no message yet: exit 0 at once, as a stopped worker
    # does, until the worker's loop installs its own graceful handler.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    from billing.entrypoints.worker import run_worker

    _check_database(settings)
    asyncio.run(run_worker(_container(settings)))
    return 0


def _remind(settings: Settings) -> int:
    from billing.entrypoints.reminders import remind_once

    # The database or the queue failing is ServiceUnavailable: one line and code 2 (_reporting_failures).
    result = asyncio.run(remind_once(_container(settings)))
    print(f"billing: reminder round for {result.day.isoformat()} queued {result.queued} reminders", file=sys.stderr)
    return 0


def _exit_cleanly(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def _outbox(settings: Settings) -> int:
    from billing.entrypoints.outbox import print_outbox

    return print_outbox(settings.outbox_dir or "var/outbox")


def _worker_count(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {raw!r}")
    return value


def _serve(settings: Settings, *, workers: int | None) -> int:
    from billing.entrypoints.http.gunicorn_app import serve_with_gunicorn

    _check_database(settings)  # in the master: one line, not one per worker
    return serve_with_gunicorn(settings, workers)


def _local(settings: Settings) -> int:
    from billing.entrypoints.local import run_local

    return run_local(settings)


def _batch_size(raw: str) -> int:
    value = int(raw)
    if not 1 <= value <= 10_000:
        raise argparse.ArgumentTypeError("must be from 1 to 10000")
    return value


def _import_legacy(settings: Settings, args: argparse.Namespace) -> int:
    from billing.entrypoints.import_legacy import run_import

    # From the environment by preference: a command line, password included, is readable by every
    # user of the machine (ps, /proc/PID/cmdline).
    source_url = args.source_url or os.environ.get(LEGACY_URL_VARIABLE, "")
    if not source_url:
        raise ConfigError(f"import-legacy needs the old database's URL: set {LEGACY_URL_VARIABLE} "
                          "(or give --from URL)")
    _check_database(settings)
    return run_import(_container(settings), source_url=source_url, old_bucket=args.old_bucket,
                      dry_run=args.dry_run, batch_size=args.batch_size)


if __name__ == "__main__":
    raise SystemExit(main())
