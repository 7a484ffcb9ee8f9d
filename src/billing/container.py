"""Composition root: the only module that knows which adapter serves which port."""

from __future__ import annotations

from collections.abc import AsyncIterator

from dependency_injector import containers, providers
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.adapters.clock import SystemClock
from billing.adapters.null_metrics import NullMetrics
from billing.adapters.security.hasher import Argon2PasswordHasher, CachingPasswordHasher
from billing.adapters.sql.engine import create_engine, database_answers
from billing.adapters.sql.migrate import upgrade_to_head
from billing.adapters.sql.unit_of_work import SqlUnitOfWork
from billing.config import Settings
from billing.domain.use_cases.authenticate import Authenticate
from billing.domain.use_cases.create_bill import CreateBill
from billing.domain.use_cases.delete_bill import DeleteBill
from billing.domain.use_cases.get_bill import GetBill
from billing.domain.use_cases.list_bills import ListBills
from billing.domain.use_cases.register_user import RegisterUser
from billing.domain.use_cases.update_bill import UpdateBill
from billing.domain.use_cases.update_profile import UpdateProfile


async def _disposing(engine: AsyncEngine) -> AsyncIterator[None]:
    """Close the pool's connections at shutdown. The engine itself is a plain singleton:
    creating one does no I/O, and keeping it synchronous keeps every factory that needs it sync."""
    try:
        yield
    finally:
        await engine.dispose()


class Container(containers.DeclarativeContainer):
    """Resources (engine, clients) live from startup to shutdown; units of work and use cases
    are factories, so each request or message gets fresh ones."""

    settings = providers.Dependency(instance_of=Settings)

    clock = providers.Singleton(SystemClock)
    metrics = providers.Singleton(NullMetrics)
    engine = providers.Singleton(
        create_engine,
        settings.provided.database_url,
        pool_size=settings.provided.db_pool_size,
        ssl_ca=settings.provided.database_ssl_ca,
    )
    engine_lifetime = providers.Resource(_disposing, engine)
    password_hasher = providers.Singleton(
        CachingPasswordHasher,
        providers.Singleton(Argon2PasswordHasher),
        ttl_seconds=settings.provided.credential_cache_seconds,
    )
    uow = providers.Factory(SqlUnitOfWork, engine)

    # Operations
    database_ready = providers.Callable(database_answers, engine)
    migrate = providers.Callable(upgrade_to_head, settings.provided.database_url)

    # Use cases
    authenticate = providers.Factory(Authenticate, uow, password_hasher, clock)
    register_user = providers.Factory(RegisterUser, uow, password_hasher, clock)
    update_profile = providers.Factory(UpdateProfile, uow, password_hasher, clock)
    create_bill = providers.Factory(CreateBill, uow, clock)
    get_bill = providers.Factory(GetBill, uow)
    list_bills = providers.Factory(ListBills, uow)
    update_bill = providers.Factory(UpdateBill, uow, clock)
    delete_bill = providers.Factory(DeleteBill, uow)
