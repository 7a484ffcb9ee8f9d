"""The yardstick: a bare aiohttp app answering "hello", served the way `billing serve` serves
(uvloop, N processes sharing the port with SO_REUSEPORT, no access log), so a run can be read as
ratios on a noisy machine.  Usage: python bench/hello.py PORT WORKERS"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

import uvloop
from aiohttp import web


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="hello")


def serve(port: int) -> None:
    app = web.Application()
    app.router.add_get("/", hello)
    web.run_app(app, host="127.0.0.1", port=port, reuse_port=True, access_log=None, print=None,
                loop=uvloop.new_event_loop())


def main() -> int:
    port, workers = int(sys.argv[1]), int(sys.argv[2])
    children = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            serve(port)
            os._exit(0)
        children.append(pid)

    def forward(signum: int, _frame: object) -> None:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for pid in children:
        os.waitpid(pid, 0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
