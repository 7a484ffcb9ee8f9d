"""A MariaDB server of the test's own, to freeze, kill and restart (never the shared one)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pymysql

from tests.integration.conftest import free_port


class DisposableMariaDB:
    def __init__(self) -> None:
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
             f"--socket={self.dir}/sock", "--bind-address=127.0.0.1", "--skip-grant-tables",
             "--innodb-buffer-pool-size=32M", "--skip-log-bin", f"--pid-file={self.dir}/pid",
             f"--log-error={self.dir}/error.log"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                pymysql.connect(host="127.0.0.1", port=self.port, user="root", connect_timeout=1).close()
                break
            except pymysql.err.OperationalError:
                assert self.process.poll() is None, (self.dir / "error.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "the disposable MariaDB did not start"
                time.sleep(0.1)
        with pymysql.connect(host="127.0.0.1", port=self.port, user="root") as conn, conn.cursor() as cursor:
            cursor.execute("CREATE DATABASE IF NOT EXISTS billing CHARACTER SET utf8mb4")

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
