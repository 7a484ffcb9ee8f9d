"""A MariaDB server of the test's own, to freeze, kill and restart (never the shared one)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pymysql

from tests.integration.certificates import ServerCertificates
from tests.integration.conftest import free_port


class DisposableMariaDB:
    """Without options: no privilege checks at all (root over TCP, no password). With `grants`:
    privileges are enforced, as on RDS. With `tls`: the server presents that certificate and
    refuses any connection over TCP without TLS (RDS's require_secure_transport=1)."""

    def __init__(self, *, grants: bool = False, tls: ServerCertificates | None = None) -> None:
        self.grants = grants
        self.tls = tls
        self.dir = Path(tempfile.mkdtemp(prefix="billing-mariadb-"))
        self.datadir = self.dir / "data"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        os.chmod(self.dir, 0o755)
        subprocess.run(["mariadb-install-db", "--user=mysql", f"--datadir={self.datadir}", "--skip-test-db",
                        "--auth-root-authentication-method=normal"], check=True, capture_output=True, timeout=120)
        shutil.chown(self.dir, "mysql")

    @property
    def url(self) -> str:
        return f"mysql+aiomysql://root@127.0.0.1:{self.port}/billing"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["mariadbd", "--user=mysql", f"--datadir={self.datadir}", f"--port={self.port}",
             f"--socket={self.socket_path}", "--bind-address=127.0.0.1", *self._options(),
             "--innodb-buffer-pool-size=32M", "--skip-log-bin", f"--pid-file={self.dir}/pid",
             f"--log-error={self.dir}/error.log"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:  # a plain socket, closed whatever happens (a failed pymysql.connect leaks its own)
                with socket.socket(socket.AF_UNIX) as probe:
                    probe.connect(str(self.socket_path))
                break
            except OSError:
                assert self.process.poll() is None, (self.dir / "error.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "the disposable MariaDB did not start"
                time.sleep(0.1)
        self.execute("CREATE DATABASE IF NOT EXISTS billing CHARACTER SET utf8mb4")

    @property
    def socket_path(self) -> Path:
        return self.dir / "sock"

    def _options(self) -> list[str]:
        options = [] if self.grants else ["--skip-grant-tables"]
        if self.tls is not None:
            options += [f"--ssl-ca={self.tls.ca}", f"--ssl-cert={self.tls.cert}", f"--ssl-key={self.tls.key}",
                        "--require-secure-transport=ON"]
        return options

    def execute(self, *statements: str) -> None:
        """As root over the unix socket (which needs neither a password nor TLS)."""
        with pymysql.connect(unix_socket=str(self.socket_path), user="root") as conn, conn.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
