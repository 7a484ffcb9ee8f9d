"""Engine construction: per-dialect pool, timeouts and isolation."""

from __future__ import annotations

import asyncio
import ssl
import weakref
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from billing.adapters.sql.errors import unusable_database


def create_engine(url: str, *, pool_size: int = 10, ssl_ca: str = "", echo: bool = False,
                  autocommit: bool = False) -> AsyncEngine:
    """An engine for `url`. MySQL: a fixed pool, bounded waits so a dead database gives an error in
    seconds, not a hang. No pre-ping (a round trip per checkout): a server-closed connection fails
    its first query with error 2013, and the unit of work retries that first statement once on a
    fresh connection (SqlUnitOfWork.execute); pool_recycle stays under the server's wait_timeout.

    `autocommit`: MySQL only, the engine of read-only units of work. Its connections stay in
    autocommit mode (set once per connection) and SQLAlchemy skips the DBAPI rollback when one is
    returned: a read is its SELECTs and nothing else, no ROLLBACK round trip."""
    parsed = make_url(url)
    # hide_parameters: a driver error's text never carries the statement's values (email
    # addresses, password hashes), so an exception logged anywhere cannot leak them.
    options: dict[str, Any] = {"echo": echo, "hide_parameters": True}
    if parsed.get_backend_name() == "mysql":
        if "charset" not in parsed.query:
            parsed = parsed.update_query_dict({"charset": "utf8mb4"})
        options |= {
            "pool_recycle": 1800,
            "pool_size": pool_size,
            # A fixed pool: overflow connections are opened for a burst and closed when returned,
            # which under steady load means a new connection (and server thread) per request.
            # Past the pool, a request waits up to pool_timeout for a connection instead.
            "max_overflow": 0,
            "pool_timeout": 5,
            # Every checkout goes through a Connection (the unit of work, readiness), whose close()
            # rolls back a transaction left open; the pool's own ROLLBACK on return would be a
            # second round trip per request for nothing.
            "pool_reset_on_return": None,
            "isolation_level": "READ COMMITTED",
            "connect_args": {"connect_timeout": 2},
        }
        if autocommit:
            options |= {"isolation_level": "AUTOCOMMIT", "skip_autocommit_rollback": True}
        if ssl_ca:
            # aiomysql wants an SSLContext; a URL parameter would reach it as a useless dict.
            options["connect_args"]["ssl"] = ssl.create_default_context(cafile=ssl_ca)
    elif parsed.get_backend_name() == "sqlite":
        options |= {"connect_args": {"timeout": 5}}
    engine = create_async_engine(parsed, **options)
    if parsed.get_backend_name() == "mysql":
        _POOL_SIZES[engine.sync_engine] = pool_size
    if parsed.get_backend_name() == "sqlite":
        sa.event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


# SQLAlchemy's async pool lets a newcomer take a returned connection before the waiter woken for it,
# so under load some requests starve. A semaphore as large as the pool (FIFO since asyncio 3.11.1),
# taken first, makes checkout first come, first served. (Measurements: bench/README.md.)
_POOL_SIZES: weakref.WeakKeyDictionary[sa.Engine, int] = weakref.WeakKeyDictionary()
_GATES: weakref.WeakKeyDictionary[sa.Engine, tuple[asyncio.AbstractEventLoop, asyncio.Semaphore]] = \
    weakref.WeakKeyDictionary()


def checkout_gate(engine: AsyncEngine) -> asyncio.Semaphore | None:
    """The fair queue in front of `engine`'s fixed pool (MySQL engines of create_engine), one per
    event loop; None for other engines."""
    sync_engine = engine.sync_engine
    size = _POOL_SIZES.get(sync_engine)
    if size is None:
        return None
    loop = asyncio.get_running_loop()
    gate = _GATES.get(sync_engine)
    if gate is None or gate[0] is not loop:
        gate = _GATES[sync_engine] = (loop, asyncio.Semaphore(size))
    return gate[1]


def pool_shares(pool_size: int) -> tuple[int, int]:
    """BILLING_DB_POOL_SIZE split between the transaction pool and the read pool (MySQL), so a
    process still holds at most that many connections (the deployment's max_connections budget
    counts on it); each pool gets at least one."""
    reads = max(1, pool_size - pool_size // 2)
    return max(1, pool_size - reads), reads


def create_read_engine(url: str, write_engine: AsyncEngine, *, pool_size: int = 10, ssl_ca: str = "") -> AsyncEngine:
    """The engine of read-only units of work: on MySQL a second fixed pool of autocommit
    connections; elsewhere (SQLite, embedded and tests) the write engine itself."""
    if make_url(url).get_backend_name() != "mysql":
        return write_engine
    return create_engine(url, pool_size=pool_size, ssl_ca=ssl_ca, autocommit=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


async def database_answers(engine: AsyncEngine, timeout: float | None = None) -> bool:
    """True when a trivial query succeeds (readiness). Tried twice: without pre-ping, the first
    try may meet a pooled connection that the server closed (that invalidates the pool's others)."""
    try:
        async with asyncio.timeout(timeout):  # both tries together: readiness answers in time
            for _ in range(2):
                try:
                    async with engine.connect() as conn:
                        await conn.execute(sa.text("SELECT 1"))
                    return True
                except (sa.exc.SQLAlchemyError, OSError):
                    pass
    except TimeoutError:
        pass
    return False


async def check_database(url: str, *, ssl_ca: str = "") -> None:
    """The start-up check of serve, worker and import-legacy: a connection opens and answers
    SELECT 1, or ServiceUnavailable names the database (password hidden) and the driver's reason,
    so a wrong host, password or CA is one clear line at start rather than 503s later."""
    engine = create_engine(url, pool_size=1, ssl_ca=ssl_ca)
    try:
        with unusable_database(url):
            async with engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
    finally:
        await engine.dispose()
