"""What dependency-injector's wiring (`@inject`, `Provide[...]`) costs a handler call, against the
service locator the handlers use today (`request.app[CONTAINER].get_own_bill()`).

Both handlers get the same use case from the same production container (SQLite URL: creating the
engine does no I/O, and nothing here runs a query); the difference is how they reach it. Each call
drives the handler's coroutine to completion, as aiohttp would, with nothing awaited inside.

    .venv/bin/python bench/di_wiring.py [--calls N] [--repeat R]

Microseconds per call (best of R) and the wiring's extra cost, printed and written to
bench/results/di_wiring.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import timeit
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from aiohttp import web
from dependency_injector.wiring import Provide, inject

from billing.config import Settings
from billing.container import Container
from billing.domain.use_cases.get_own_bill import GetOwnBill
from billing.entrypoints.http.keys import CONTAINER

ROOT = Path(__file__).resolve().parent


async def empty_handler(request: web.Request) -> object:
    return request


async def locator_handler(request: web.Request) -> object:
    return request.app[CONTAINER].get_own_bill()


@inject
async def wired_handler(request: web.Request, use_case: GetOwnBill = Provide[Container.get_own_bill]) -> object:
    return use_case


class _Request:
    """What the handlers read: `.app`, an aiohttp Application holding the container."""

    def __init__(self, app: web.Application) -> None:
        self.app = app


def _result(coroutine: Coroutine[Any, Any, object]) -> object:
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    raise AssertionError("the handler awaited something")


def per_call_us(handler: Callable[[Any], Coroutine[Any, Any, object]], request: Any, calls: int, repeat: int) -> float:
    def once() -> None:
        coroutine = handler(request)
        try:
            coroutine.send(None)
        except StopIteration:
            return
        raise AssertionError("the handler awaited something")

    return min(timeit.repeat(once, number=calls, repeat=repeat)) / calls * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    settings = Settings.from_env({"BILLING_DATABASE_URL": "sqlite+aiosqlite:///:memory:"})
    container = Container(settings=settings)
    container.wire(modules=[__name__])
    app = web.Application()
    app[CONTAINER] = container
    request = _Request(app)
    for handler in (locator_handler, wired_handler):  # both reach a real use case (wiring took)
        assert isinstance(_result(handler(request)), GetOwnBill), handler

    empty = per_call_us(empty_handler, request, args.calls, args.repeat)
    locator = per_call_us(locator_handler, request, args.calls, args.repeat)
    wired = per_call_us(wired_handler, request, args.calls, args.repeat)
    container.unwire()
    result = {
        "benchmark": "di_wiring",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, {platform.python_implementation()}"
        f" {platform.python_version()}",
        "calls": args.calls,
        "us_per_call": {"empty_handler": round(empty, 3), "locator": round(locator, 3), "inject": round(wired, 3)},
        "inject_minus_locator_us": round(wired - locator, 3),
    }
    text = json.dumps(result, indent=2) + "\n"
    sys.stdout.write(text)
    (ROOT / "results" / "di_wiring.json").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
