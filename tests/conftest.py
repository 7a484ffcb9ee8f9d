"""Shared fixtures: fakes wired into the real container, and a client for the app built on them."""

from __future__ import annotations

import base64
import gc
from collections.abc import AsyncIterator, Iterator

import pytest
from dependency_injector import providers

from billing.config import Settings
from billing.container import Container
from tests.fakes import (
    FakeClock,
    FakeFileStore,
    FakeIdempotencyStore,
    FakePasswordHasher,
    FakeQueue,
    FakeReadOnlyUnitOfWork,
    FakeUnitOfWork,
    Tables,
)

PASSWORD = "Abcd1234!"


def pytest_collection_finish(session: pytest.Session) -> None:
    """What collection built (modules, test functions, their parameters) lives for the whole run:
    frozen, the collector never walks it again, and a full collection costs what a test made."""
    freeze_survivors()


def freeze_survivors() -> None:
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def _garbage_collected_after_each_test() -> Iterator[None]:
    """A full collection once the test and its fixtures are done, so that a leaked connection or
    transport warns (an error here) against the test that leaked it. Left to chance, the collector
    may run inside pytest's own `ast.parse` while it formats a failure: the ResourceWarning then
    re-enters `ast.parse` through the traceback module, which CPython 3.11 refuses with
    "SystemError: AST constructor recursion depth mismatch", an INTERNALERROR that ends the whole
    run and hides the failure behind it (one CI run died so). Autouse: torn down last.

    What survives is frozen, so the next collection walks only what the next test makes: walking
    the whole heap after each test (the process held 1.6 GB by the time the unit tests ran, after
    the integration tests) made the run three times longer."""
    yield
    freeze_survivors()


def basic(email: str, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{email}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def tables() -> Tables:
    return Tables()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def hasher() -> FakePasswordHasher:
    return FakePasswordHasher()


@pytest.fixture
def queue() -> FakeQueue:
    return FakeQueue()


@pytest.fixture
def file_store() -> FakeFileStore:
    return FakeFileStore()


async def _nothing_to_open() -> AsyncIterator[None]:
    yield


@pytest.fixture
def fake_container(tables: Tables, clock: FakeClock, hasher: FakePasswordHasher, file_store: FakeFileStore,
                   queue: FakeQueue) -> Container:
    """The production container with every port overridden by a fake (no I/O at all)."""
    settings = Settings(public_base_url="https://billing.test")
    return container_with_fakes(settings, tables, clock, hasher, file_store=file_store, queue=queue)


def container_with_fakes(settings: Settings, tables: Tables, clock: FakeClock, hasher: FakePasswordHasher, *,
                         file_store: FakeFileStore | None = None, queue: FakeQueue | None = None) -> Container:
    """The production container on `settings`, with the database, hasher, clock, storage and queue
    replaced by fakes."""
    file_store = file_store or FakeFileStore()
    queue = queue or FakeQueue()
    container = Container(settings=settings)
    container.uow.override(providers.Factory(FakeUnitOfWork, tables))
    container.read_uow.override(providers.Factory(FakeReadOnlyUnitOfWork, tables))
    container.idempotency_store.override(providers.Object(FakeIdempotencyStore(tables)))
    container.password_hasher.override(providers.Object(hasher))
    container.clock.override(providers.Object(clock))
    container.file_store.override(providers.Object(file_store))
    container.due_queue.override(providers.Object(queue))
    container.aws_clients_lifetime.override(providers.Resource(_nothing_to_open))

    async def database_ready() -> bool:
        return not tables.down

    container.database_ready.override(providers.Callable(database_ready))
    return container
