"""The console script's failures a person must fix (a malformed setting, a database that cannot be
reached or refuses the password, a taken port): one line on stderr naming the problem, exit code 2,
and never the password. The real `billing` script runs in a subprocess, as an operator runs it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy.engine import make_url

from tests.integration.conftest import free_port

BILLING = str(Path(sys.executable).with_name("billing"))
# A password with characters that URLs escape: neither its raw nor its escaped form may be shown.
PASSWORD = "Sup3r/S3cret@:pw"
IN_URL = quote(PASSWORD, safe="")
COMMANDS = [
    ["migrate"],
    ["serve", "--workers", "1"],
    ["serve", "--workers", "2"],
    ["worker"],
    ["import-legacy", "--from", "mysql+aiomysql://old:x@127.0.0.1:1/csye6225"],
    ["local"],
]


def run(command: list[str], tmp_path: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLING_")} | {
        "BILLING_HTTP_PORT": str(free_port()),
        # An explicit endpoint: `local` starts no emulator (nothing gets that far anyway).
        "BILLING_AWS_ENDPOINT_URL": "http://127.0.0.1:1",
    } | settings
    return subprocess.run([BILLING, *command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)


def assert_one_line_without_password(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and result.stderr.endswith("\n"), result.stderr
    for secret in (PASSWORD, IN_URL, "S3cret"):
        assert secret not in result.stderr + result.stdout
    for part in expected:
        assert part in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_malformed_database_url_is_one_line_and_exit_2(command: list[str], tmp_path: Path) -> None:
    result = run(command, tmp_path, BILLING_DATABASE_URL=f"mysql+aiomysql://billing:{IN_URL}@127.0.0.1:port/billing")
    line = assert_one_line_without_password(result, "BILLING_DATABASE_URL", "has a port that is not a number")
    assert line.startswith("billing: configuration error: ")


@pytest.mark.parametrize(("url", "problem"), [
    # An unescaped '@' in the password: SQLAlchemy would read part of it as the host name.
    ("mysql+aiomysql://billing:Sup3rS3cret@pw@127.0.0.1/billing", "needs a host name"),
    (f"postgresql://billing:{IN_URL}@127.0.0.1/billing", "must start with"),
    (f"mysql+aiomysql://billing:{IN_URL}@127.0.0.1", "needs a database name"),
], ids=["at-sign", "scheme", "no-database"])
def test_database_url_problems_are_named_without_the_password(url: str, problem: str, tmp_path: Path) -> None:
    assert_one_line_without_password(run(["migrate"], tmp_path, BILLING_DATABASE_URL=url), problem)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_unreachable_database_is_one_line_and_exit_2(command: list[str], tmp_path: Path) -> None:
    port = free_port()  # nothing listens there: the connection is refused
    url = f"mysql+aiomysql://billing:{IN_URL}@127.0.0.1:{port}/billing"
    result = run(command, tmp_path, BILLING_DATABASE_URL=url)
    line = assert_one_line_without_password(
        result, f"billing:***@127.0.0.1:{port}/billing", "Can't connect", "Connect call failed")
    assert line.startswith(f"billing {command[0]}: the database ")


@pytest.mark.parametrize("command", [["migrate"], ["serve", "--workers", "1"]], ids=" ".join)
def test_wrong_password_is_one_line_and_exit_2(command: list[str], tmp_path: Path, mysql_url: str) -> None:
    url = make_url(mysql_url).set(password=PASSWORD).render_as_string(hide_password=False)
    result = run(command, tmp_path, BILLING_DATABASE_URL=url)
    assert_one_line_without_password(result, "(1045)", "Access denied")


def test_malformed_app_database_url_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run(["migrate"], tmp_path, BILLING_DATABASE_URL=f"mysql+aiomysql://admin:{IN_URL}@db/billing",
                 BILLING_DATABASE_APP_URL=f"mysql+aiomysql://app:{IN_URL}@db:x/billing")
    assert_one_line_without_password(result, "BILLING_DATABASE_APP_URL", "port")


def test_malformed_old_database_url_is_one_line_and_exit_2(tmp_path: Path, sqlite_url: str) -> None:
    malformed = f"mysql+aiomysql://old:{IN_URL}@127.0.0.1:port/x"
    for result in (run(["import-legacy", "--from", malformed], tmp_path, BILLING_DATABASE_URL=sqlite_url),
                   run(["import-legacy"], tmp_path, BILLING_DATABASE_URL=sqlite_url,
                       BILLING_LEGACY_DATABASE_URL=malformed)):
        assert_one_line_without_password(
            result, "billing import-legacy: the old database URL (--from or BILLING_LEGACY_DATABASE_URL)", "port")


def test_import_without_the_old_database_url_says_where_to_give_it(tmp_path: Path, sqlite_url: str) -> None:
    result = run(["import-legacy"], tmp_path, BILLING_DATABASE_URL=sqlite_url)
    line = assert_one_line_without_password(result, "BILLING_LEGACY_DATABASE_URL", "--from URL")
    assert line.startswith("billing: configuration error: import-legacy needs the old database's URL")


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


@pytest.mark.parametrize("workers", ["1", "2"])
def test_taken_port_is_one_line_and_exit_2(workers: str, taken_port: int, tmp_path: Path, sqlite_url: str) -> None:
    result = run(["serve", "--workers", workers], tmp_path, BILLING_DATABASE_URL=sqlite_url,
                 BILLING_HTTP_PORT=str(taken_port))
    assert_one_line_without_password(result, f"billing serve: cannot listen on 127.0.0.1:{taken_port}", "in use")
