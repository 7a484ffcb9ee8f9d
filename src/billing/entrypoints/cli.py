"""`billing serve | migrate | local`: the console script."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
from collections.abc import Callable, Sequence

from billing.config import ConfigError, Settings
from billing.container import Container
from billing.entrypoints.logging_setup import choose_format, configure_logging


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="billing", description="Bills, attachments and due-bills emails.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the production HTTP server")
    serve.add_argument("--workers", type=_worker_count, default=default_workers(), metavar="N",
                       help="processes sharing the port with SO_REUSEPORT (default: the CPU count, here %(default)s)")
    commands.add_parser("migrate", help="upgrade the database schema to the newest revision")
    commands.add_parser("local", help="the embedded all-in-one (what `make run` starts)")
    commands.add_parser("worker", help="consume due-bills requests from SQS until SIGTERM")
    commands.add_parser("outbox", help="print the emails the local AWS emulator has sent")
    commands.add_parser("bootstrap", help="create the AWS resources (bucket...) if missing; idempotent")
    args = parser.parse_args(argv)

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"billing: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level_number, choose_format(settings.log_format, args.command, sys.stdout))
    handlers: dict[str, Callable[[], int]] = {
        "serve": lambda: _serve(settings, workers=args.workers),
        "migrate": lambda: _migrate(settings),
        "local": lambda: _local(settings),
        "bootstrap": lambda: _bootstrap(settings),
        "worker": lambda: _worker(settings),
        "outbox": lambda: _outbox(settings),
    }
    return handlers[args.command]()


def _container(settings: Settings) -> Container:
    return Container(settings=settings)


def _migrate(settings: Settings) -> int:
    _container(settings).migrate()
    print("billing: database schema is up to date", file=sys.stderr)
    return 0


def _bootstrap(settings: Settings) -> int:
    async def bootstrap() -> None:
        container = _container(settings)
        await container.init_resources()
        try:
            await container.bootstrap()
        finally:
            await container.shutdown_resources()

    asyncio.run(bootstrap())
    print("billing: AWS resources are in place", file=sys.stderr)
    return 0


def _worker(settings: Settings) -> int:
    from billing.entrypoints.worker import run_worker

    asyncio.run(run_worker(_container(settings)))
    return 0


def _outbox(settings: Settings) -> int:
    endpoint = settings.aws_endpoint_url or f"http://127.0.0.1:{settings.local_aws_port}"
    container = _container(dataclasses.replace(settings, aws_endpoint_url=endpoint))
    try:
        emails = asyncio.run(container.sent_emails())
    except OSError as exc:
        print(f"billing: the local AWS emulator at {endpoint} does not answer ({exc}); is `make run` running?",
              file=sys.stderr)
        return 1
    for email in emails:
        print(f"From: {email.get('source')}\nTo: {', '.join(email.get('destinations', {}).get('ToAddresses', []))}\n"
              f"Subject: {email.get('subject')}\n\n{email.get('body')}\n{'-' * 72}")
    print(f"{len(emails)} email(s) sent by {endpoint}", file=sys.stderr)
    return 0


def default_workers() -> int:
    """The CPUs this process may run on (a container's or taskset's limit), else the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _worker_count(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {raw!r}")
    return value


def _serve(settings: Settings, *, workers: int = 1) -> int:
    from billing.entrypoints.http.server import run_http_workers

    if workers > 1 and settings.http_port == 0:
        print("billing: BILLING_HTTP_PORT=0 (any free port) cannot be shared by several workers; "
              "use --workers 1 or a fixed port", file=sys.stderr)
        return 2
    return run_http_workers(lambda: _container(settings), workers)


def _local(settings: Settings) -> int:
    from billing.entrypoints.local import run_local

    return run_local(settings)


if __name__ == "__main__":
    raise SystemExit(main())
