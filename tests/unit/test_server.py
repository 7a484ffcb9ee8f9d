"""What a server's runner does before its port accepts requests."""

from __future__ import annotations

import gc

from billing.container import Container
from billing.entrypoints.http.app import create_app
from billing.entrypoints.http.lifecycle import GracefulRunner
from tests.conftest import freeze_survivors


async def test_startup_objects_are_out_of_the_collectors_reach_once_the_runner_is_set_up(
        fake_container: Container) -> None:
    runner = GracefulRunner(create_app(fake_container), drain_seconds=0)
    gc.unfreeze()  # whatever another test's runner froze
    try:
        await runner.setup()  # gunicorn's workers and `billing local` alike
        assert gc.get_freeze_count() > 10_000  # the modules, the app, the container: a full collection skips them
    finally:
        await runner.cleanup()
        gc.unfreeze()  # the test's app and container: collectable again
        freeze_survivors()  # the run's long-lived objects, frozen again (tests/conftest.py)
