"""Least privilege in the database, on a MariaDB of the test's own that enforces privileges and,
like RDS (require_secure_transport=1), refuses TCP connections without TLS.

`admin` plays the RDS master: `billing migrate` runs as it, over verified TLS, and creates the
application user of BILLING_DATABASE_APP_URL with SELECT, INSERT, UPDATE, DELETE on the service's
database. `billing serve` and the worker then run as that user: every route works, and DDL or
GRANT is refused."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pymysql
import pytest
from sqlalchemy.engine import URL

from billing.adapters.sql.app_user import database_grant_target
from tests.conftest import PASSWORD, basic
from tests.fakes import FakeClock
from tests.integration.certificates import ServerCertificates, make_server_certificates
from tests.integration.conftest import free_port
from tests.integration.disposable_mariadb import DisposableMariaDB
from tests.integration.live import settings_env
from tests.integration.pipeline import Pipeline

BILLING = str(Path(sys.executable).with_name("billing"))
ADMIN_PASSWORD = "Adm1n/p@ss:w%rd"  # characters a URL must escape
APP_PASSWORD = "App/p@ss:w%rd-1"
DML_GRANT = "GRANT SELECT, INSERT, UPDATE, DELETE ON `billing`.* TO `billing_app`@`%`"
USAGE = "GRANT USAGE ON *.* TO `billing_app`@`%`"
# MySQL/MariaDB: 1044 access denied to a database, 1142 command denied on a table, 1227 needs a
# privilege the user lacks (CREATE USER...).
DENIED = {1044, 1142, 1227}


class Server:
    def __init__(self, db: DisposableMariaDB, certificates: ServerCertificates) -> None:
        self.db = db
        self.certificates = certificates

    def url(self, user: str, password: str) -> str:
        return URL.create("mysql+aiomysql", username=user, password=password, host="127.0.0.1", port=self.db.port,
                          database="billing").render_as_string(hide_password=False)

    @property
    def admin_url(self) -> str:
        return self.url("admin", ADMIN_PASSWORD)

    def app_url(self, password: str = APP_PASSWORD) -> str:
        return self.url("billing_app", password)

    def migrate(self, app_password: str = APP_PASSWORD, ca: Path | None = None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BILLING_")} | {
            "BILLING_DATABASE_URL": self.admin_url, "BILLING_DATABASE_APP_URL": self.app_url(app_password),
            "BILLING_DATABASE_SSL_CA": str(ca or self.certificates.ca), "BILLING_LOG_LEVEL": "WARNING"}
        return subprocess.run([BILLING, "migrate"], env=env, capture_output=True, text=True, timeout=120)

    def connect(self, user: str, password: str) -> pymysql.connections.Connection:  # type: ignore[type-arg]
        """A PyMySQL connection over verified TLS. In-process checks use PyMySQL: aiomysql leaves a
        TLS connection's shutdown to the event loop, which pytest closes as soon as a test ends
        (an unclosed-transport warning, an error under -W error)."""
        return pymysql.connect(host="127.0.0.1", port=self.db.port, user=user, password=password, database="billing",
                               ssl={"ca": str(self.certificates.ca)}, connect_timeout=10, autocommit=True)

    def query(self, user: str, password: str, *statements: str) -> list[tuple[object, ...]]:
        """Run `statements` as `user`; the rows of the last one."""
        rows: list[tuple[object, ...]] = []
        with self.connect(user, password) as conn, conn.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
                rows = list(cursor.fetchall())
        return rows

    @property
    def app_socket_url(self) -> str:
        """The application user over the server's unix socket, which needs no TLS (see connect)."""
        return URL.create("mysql+aiomysql", username="billing_app", password=APP_PASSWORD, host="localhost",
                          database="billing", query={"unix_socket": str(self.db.socket_path)}
                          ).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    # The server runs as `mysql`: its certificate must be readable outside pytest's private tmp.
    directory = Path(tempfile.mkdtemp(prefix="billing-tls-"))
    os.chmod(directory, 0o755)
    db = DisposableMariaDB(grants=True, tls=make_server_certificates(directory))
    try:
        db.start()
        db.execute(f"CREATE USER 'admin'@'%' IDENTIFIED BY '{ADMIN_PASSWORD}'",
                   "GRANT ALL PRIVILEGES ON *.* TO 'admin'@'%' WITH GRANT OPTION")
        assert db.tls is not None
        server = Server(db, db.tls)
        result = server.migrate()
        assert result.returncode == 0, result.stderr
        yield server
    finally:
        db.close()
        shutil.rmtree(directory, ignore_errors=True)


def grants_of_app_user(server: Server) -> list[str]:
    rows = server.query("admin", ADMIN_PASSWORD, "SHOW GRANTS FOR 'billing_app'@'%'")
    # The USAGE line carries the password's hash; only the rights matter here.
    return sorted(str(row[0]).split(" IDENTIFIED BY")[0] for row in rows)


def test_migrate_gives_the_app_user_dml_on_the_database_only(server: Server) -> None:
    assert grants_of_app_user(server) == [DML_GRANT, USAGE]
    again = server.migrate()  # every deployment runs it: nothing changes, nothing warns
    assert (again.returncode, again.stderr) == (0, "billing: database schema is up to date\n")
    assert grants_of_app_user(server) == [DML_GRANT, USAGE]


def test_a_new_app_password_is_set_by_the_next_migrate(server: Server) -> None:
    rotated = "Rotated/p@ss:2"
    try:
        assert server.migrate(app_password=rotated).returncode == 0
        server.query("billing_app", rotated, "SELECT 1")
        with pytest.raises(pymysql.err.OperationalError) as refused:
            server.query("billing_app", APP_PASSWORD, "SELECT 1")
        assert refused.value.args[0] == 1045
    finally:
        assert server.migrate().returncode == 0
    server.query("billing_app", APP_PASSWORD, "SELECT 1")


@pytest.mark.parametrize("statement", [
    "CREATE TABLE intruder (id INT PRIMARY KEY)",
    "ALTER TABLE users ADD COLUMN intruder INT",
    "DROP TABLE bills",
    "TRUNCATE TABLE users",
    "CREATE INDEX ix_intruder ON users (first_name)",
    "CREATE DATABASE intruder",
    "CREATE USER 'intruder'@'%' IDENTIFIED BY 'x'",
    "GRANT SELECT ON `billing`.* TO 'billing_app'@'%'",
    "GRANT ALL PRIVILEGES ON `billing`.* TO 'billing_app'@'%'",
], ids=lambda s: " ".join(s.split()[:2]))
def test_the_app_user_cannot_change_the_schema_or_grant(server: Server, statement: str) -> None:
    count_columns = "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = 'billing'"
    [(columns_before,)] = server.query("billing_app", APP_PASSWORD, count_columns)
    with pytest.raises(pymysql.err.MySQLError) as refused:
        server.query("billing_app", APP_PASSWORD, statement)
    assert refused.value.args[0] in DENIED, refused.value
    [(columns_after,)] = server.query("billing_app", APP_PASSWORD, count_columns)
    assert columns_after == columns_before
    assert int(str(columns_before)) > 0
    assert grants_of_app_user(server) == [DML_GRANT, USAGE]


def test_tables_that_later_migrations_create_are_covered_without_a_new_grant(server: Server) -> None:
    # What a future revision (0004, 0005...) does, as the master.
    server.query("admin", ADMIN_PASSWORD, "CREATE TABLE later_revision (id INT PRIMARY KEY, note VARCHAR(20))")
    try:
        rows = server.query("billing_app", APP_PASSWORD, "INSERT INTO later_revision VALUES (1, 'a')",
                            "UPDATE later_revision SET note = 'b' WHERE id = 1", "SELECT note FROM later_revision")
        assert rows == [("b",)]
        assert server.query("billing_app", APP_PASSWORD, "DELETE FROM later_revision",
                            "SELECT COUNT(*) FROM later_revision") == [(0,)]
    finally:
        server.query("admin", ADMIN_PASSWORD, "DROP TABLE IF EXISTS later_revision")


def test_migrations_refuse_a_server_certificate_the_ca_does_not_sign(server: Server) -> None:
    result = server.migrate(ca=server.certificates.other_ca)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert "CERTIFICATE_VERIFY_FAILED" in result.stderr
    assert ADMIN_PASSWORD not in result.stderr and APP_PASSWORD not in result.stderr


def test_migrations_without_tls_are_refused_by_the_server(server: Server) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLING_")} | {
        "BILLING_DATABASE_URL": server.admin_url}
    result = subprocess.run([BILLING, "migrate"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert "admin:***@127.0.0.1" in result.stderr and ADMIN_PASSWORD not in result.stderr


def test_grants_name_one_database_even_when_its_name_holds_wildcards() -> None:
    assert database_grant_target("billing") == "`billing`.*"
    assert database_grant_target("billing_prod%") == "`billing\\_prod\\%`.*"
    assert database_grant_target("a`b") == "`a``b`.*"


# --------------------------------------------------------------------------- the service as the app user

@pytest.fixture
async def pipeline(server: Server, aws_endpoint: str, tmp_path: Path) -> AsyncIterator[Pipeline]:
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    pipeline = Pipeline(server.app_socket_url, aws_endpoint, clock, tmp_path / "outbox")
    await pipeline.start()
    yield pipeline
    await pipeline.stop()


@pytest.fixture
def serve(server: Server, pipeline: Pipeline, tmp_path: Path) -> Iterator[str]:
    """`billing serve` as the application user over verified TLS (as on the instances), on the
    pipeline's AWS resources."""
    port = free_port()
    env = settings_env(pipeline.settings) | {
        "BILLING_HTTP_PORT": str(port), "BILLING_LOG_LEVEL": "WARNING", "BILLING_DATABASE_URL": server.app_url(),
        "BILLING_DATABASE_SSL_CA": str(server.certificates.ca)}
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen([BILLING, "serve", "--workers", "1"], env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _answers(f"{base}/readyz"):
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "billing serve did not get ready within 60 s"
            time.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=40)
    assert process.returncode == 0, (tmp_path / "serve.log").read_text()
    assert "denied" not in (tmp_path / "serve.log").read_text().lower()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


async def test_every_route_works_when_the_service_runs_as_the_app_user(pipeline: Pipeline, serve: str) -> None:
    email = f"least-{uuid.uuid4().hex[:8]}@example.com"
    auth = basic(email)
    today = datetime.now(UTC).date()
    bill = {"vendor": "Northwind", "bill_date": today.isoformat(),
            "due_date": (today + timedelta(days=3)).isoformat(), "amount_due": 42.5, "payment_status": "due"}
    async with aiohttp.ClientSession(serve) as http:
        user = {"first_name": "Lea", "last_name": "St", "email_address": email, "password": PASSWORD}
        async with http.post("/v1/user", json=user, headers={"Idempotency-Key": uuid.uuid4().hex}) as response:
            assert response.status == 201, await response.text()
        async with http.get("/v1/user/self", headers=basic(email, "Wrong-pass1!")) as response:
            assert response.status == 401
        async with http.put("/v1/user/self", json={"first_name": "Leah"}, headers=auth) as response:
            assert response.status == 204
        async with http.get("/v1/user/self", headers=auth) as response:
            assert (await response.json())["first_name"] == "Leah"
        async with http.post("/v1/bill", json=bill, headers=auth | {"Idempotency-Key": uuid.uuid4().hex}) as response:
            assert response.status == 201, await response.text()
            bill_id = (await response.json())["id"]
        async with http.put(f"/v1/bill/{bill_id}", json=bill | {"vendor": "Contoso"}, headers=auth) as response:
            assert response.status == 204
        upload = aiohttp.FormData()
        upload.add_field("attachment", b"%PDF-1.4 least privilege", filename="invoice.pdf")
        async with http.post(f"/v1/bill/{bill_id}/file", data=upload, headers=auth) as response:
            assert response.status == 201, await response.text()
            file_id = (await response.json())["id"]
        async with http.get(f"/v1/bill/{bill_id}/file/{file_id}", headers=auth) as response:
            assert response.status == 200 and (await response.json())["file_name"] == "invoice.pdf"
        async with http.get(f"/v1/bill/{bill_id}", headers=auth) as response:
            assert (await response.json())["attachment"]["id"] == file_id
        async with http.get("/v1/bills?payment_status=due", headers=auth) as response:
            assert [b["vendor"] for b in await response.json()] == ["Contoso"]
        async with http.get("/v1/bills/due/7", headers=auth) as response:
            assert response.status == 202
        await pipeline.run_worker()  # the worker as the application user too (over the socket)
        assert await pipeline.deliver_to_lambda() == ["sent"]
        [sent] = await pipeline.emails_to(email)
        assert "Contoso" in sent["text"]
        async with http.delete(f"/v1/bill/{bill_id}/file/{file_id}", headers=auth) as response:
            assert response.status == 204
        async with http.delete(f"/v1/bill/{bill_id}", headers=auth) as response:
            assert response.status == 204
        async with http.put("/v1/user/self", json={"password": "Changed-pass9"}, headers=auth) as response:
            assert response.status == 204
        async with http.get("/v1/bills", headers=basic(email, "Changed-pass9")) as response:
            assert response.status == 200 and await response.json() == []
        for path in ("/healthz", "/readyz", "/openapi.json"):
            async with http.get(path) as response:
                assert response.status == 200, path
