"""The embedded all-in-one behind `make run`: SQLite, migrations, the HTTP server."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url

from billing.config import Settings
from billing.container import Container
from billing.entrypoints.http.server import run_http_server


def run_local(settings: Settings) -> int:
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    container = Container(settings=settings)
    container.migrate()
    banner = (
        f"billing: local mode on http://{settings.http_host}:{settings.http_port} "
        f"(API docs at /docs, database {url.render_as_string(hide_password=True)}); Ctrl-C to stop"
    )
    run_http_server(container, banner=banner)
    return 0
