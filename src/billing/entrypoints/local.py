"""The embedded all-in-one behind `make run`: SQLite, a local AWS emulator, the HTTP server."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

from billing.config import Settings
from billing.container import Container
from billing.entrypoints.http.server import run_http_server
from billing.entrypoints.local_aws import EmulatorError, LocalAwsEmulator

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
            emulator = LocalAwsEmulator(settings.local_aws_port, VAR / "aws-emulator.log")
            try:
                endpoint = stack.enter_context(emulator)
            except EmulatorError as exc:
                print(f"billing: {exc}", file=sys.stderr)
                return 2
            settings = dataclasses.replace(settings, aws_endpoint_url=endpoint)
        container = Container(settings=settings)
        container.migrate()
        banner = (
            f"billing: local mode on http://{settings.http_host}:{settings.http_port} "
            f"(docs at /docs; database {url.render_as_string(hide_password=True)}; "
            f"AWS emulator {settings.aws_endpoint_url}); Ctrl-C to stop"
        )
        run_http_server(container, banner=banner, prepare=container.bootstrap)
    return 0
