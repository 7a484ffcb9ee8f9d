"""The embedded all-in-one behind `make run`: SQLite, a local AWS emulator, the HTTP server, the
worker, the daily reminder round (BILLING_REMINDER_TIME) and a stand-in for the SNS → Lambda
delivery, in one process (the emulator in a child)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from pathlib import Path

from sqlalchemy.engine import make_url

from billing.config import Settings
from billing.container import Container
from billing.entrypoints.http.server import run_http_server
from billing.entrypoints.local_aws import LocalAwsEmulator
from billing.entrypoints.local_lambda import LambdaStandin
from billing.entrypoints.reminders import DailyReminders
from billing.entrypoints.worker import due_bills_consumer

VAR = Path("var")


def run_local(settings: Settings) -> int:
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    # The emulator accepts any credentials; real ones must never be sent to it.
    for name, value in (("AWS_ACCESS_KEY_ID", "local"), ("AWS_SECRET_ACCESS_KEY", "local")):
        os.environ[name] = value
    os.environ.pop("AWS_SESSION_TOKEN", None)

    with contextlib.ExitStack() as stack:
        if not settings.aws_endpoint_url:  # an explicit endpoint means an emulator runs elsewhere
            # EmulatorError (its port is taken...) becomes one line in entrypoints/cli.py.
            endpoint = stack.enter_context(LocalAwsEmulator(settings.local_aws_port, VAR / "aws-emulator.log"))
            settings = dataclasses.replace(settings, aws_endpoint_url=endpoint)
        outbox = settings.outbox_dir or str(VAR / "outbox")
        settings = dataclasses.replace(settings, outbox_dir=outbox)
        # The Lambda handler reads its configuration from the environment, as it would in AWS.
        os.environ.update(BILLING_AWS_ENDPOINT_URL=settings.aws_endpoint_url, BILLING_OUTBOX_DIR=outbox)
        container = Container(settings=settings)
        container.migrate()
        banner = (
            f"billing: local mode on http://{settings.http_host}:{settings.http_port} "
            f"(docs at /docs; database {url.render_as_string(hide_password=True)}; "
            f"AWS emulator {settings.aws_endpoint_url}; emails in {outbox}/); Ctrl-C to stop"
        )
        return run_http_server(
            container,
            banner=banner,
            prepare=container.bootstrap_local,
            companions=[due_bills_consumer(container).run, LambdaStandin(container).run,
                        DailyReminders(container).run],
        )
