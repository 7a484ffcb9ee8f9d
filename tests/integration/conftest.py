"""Real parts: MariaDB/MySQL (started by `make test`) and SQLite files, migrated by Alembic."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from dependency_injector import providers
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.adapters.security.hasher import Argon2PasswordHasher, CachingPasswordHasher
from billing.adapters.sql.engine import create_engine
from billing.adapters.sql.migrate import upgrade_to_head
from billing.adapters.sql.tables import metadata
from billing.config import Settings
from billing.container import Container
from billing.entrypoints.local_aws import LocalAwsEmulator

# Never let a developer's real AWS credentials reach the emulator (or AWS) from the tests.
os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
os.environ.pop("AWS_SESSION_TOKEN", None)
os.environ.pop("AWS_PROFILE", None)

MYSQL_URL = os.environ.get(
    "BILLING_TEST_MYSQL_URL", "mysql+aiomysql://billing_test:billing_test@127.0.0.1:3306/billing_test"
)


@pytest.fixture(scope="session")
def mysql_url() -> str:
    try:
        upgrade_to_head(MYSQL_URL)
    except Exception as exc:
        pytest.fail(f"MariaDB/MySQL at {MYSQL_URL.split('@')[-1]} is not usable ({exc.__class__.__name__}: {exc}); "
                    "run `make mariadb` or set BILLING_TEST_MYSQL_URL", pytrace=False)
    return MYSQL_URL


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def aws_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto in server mode, over HTTP, as `billing local` runs it (moto's decorators do not patch aioboto3)."""
    with LocalAwsEmulator(free_port(), tmp_path_factory.mktemp("moto") / "moto.log") as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("sqlite") / "billing.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade_to_head(url)
    return url


@pytest.fixture(params=["mariadb", "sqlite"])
def database_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("mysql_url" if request.param == "mariadb" else "sqlite_url")


async def wipe(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            await conn.execute(sa.delete(table))


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await wipe(engine)
    yield engine
    await engine.dispose()


def fast_hasher() -> CachingPasswordHasher:
    """Real Argon2id/bcrypt code with cheap parameters, so tests spend seconds, not minutes."""
    return CachingPasswordHasher(Argon2PasswordHasher(time_cost=1, memory_cost=1024))


def make_container(database_url: str, aws_endpoint: str, **settings: object) -> Container:
    """The production container on real MariaDB/SQLite and moto, with its own bucket."""
    bucket = f"test-{uuid.uuid4().hex[:20]}"
    container = Container(settings=Settings(database_url=database_url, public_base_url="https://billing.test",
                                            aws_endpoint_url=aws_endpoint, s3_bucket=bucket, **settings))
    container.password_hasher.override(providers.Singleton(fast_hasher))
    return container


@asynccontextmanager
async def bootstrapped(container: Container) -> AsyncIterator[Container]:
    """`container` on a wiped database with its AWS resources made (its resources closed again:
    the app under test opens its own); its engines disposed on the way out."""
    await wipe(container.engine())
    await container.init_resources()
    await container.bootstrap()
    await container.shutdown_resources()
    try:
        yield container
    finally:
        await container.engine().dispose()
        await container.read_engine().dispose()


@pytest.fixture
async def real_container(database_url: str, aws_endpoint: str) -> AsyncIterator[Container]:
    async with bootstrapped(make_container(database_url, aws_endpoint)) as container:
        yield container
