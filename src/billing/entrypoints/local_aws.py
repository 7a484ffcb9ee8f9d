"""A local AWS for the embedded mode: moto in server mode, as a supervised child process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

STARTUP_TIMEOUT = 30.0


class EmulatorError(RuntimeError):
    pass


class LocalAwsEmulator:
    """`with LocalAwsEmulator(4566, log) as endpoint:` — the emulator runs for the block's duration.

    Its state lives in memory: objects, queues and sent emails vanish when it stops.
    """

    def __init__(self, port: int, log_file: Path) -> None:
        self._port = port
        self._log_file = log_file
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def __enter__(self) -> str:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", self._port)) == 0:
                raise EmulatorError(f"port {self._port} is already in use; set BILLING_LOCAL_AWS_PORT to a free port")
        self._log_file.parent.mkdir(parents=True, exist_ok=True)
        with self._log_file.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self._port)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches us; we stop the emulator in order
                env=os.environ | {"MOTO_CALL_RESET_API": "false"},
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self._answers():
            if self._process.poll() is not None:
                raise EmulatorError(
                    f"the AWS emulator exited with code {self._process.returncode}; see {self._log_file}"
                )
            if time.monotonic() > deadline:
                self._stop()
                raise EmulatorError(
                    f"the AWS emulator did not answer within {STARTUP_TIMEOUT:.0f} s; see {self._log_file}"
                )
            time.sleep(0.1)
        return self.endpoint

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop()

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/moto-api/data.json", timeout=1):
                return True
        except (urllib.error.URLError, OSError):
            return False

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
