"""Composition root: the only module that knows which adapter serves which port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from dependency_injector import containers, providers
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.adapters.aws.bootstrap import (
    ensure_bucket,
    ensure_ledger_table,
    ensure_queue,
    ensure_sender,
    ensure_topic,
    subscribe_queue,
)
from billing.adapters.aws.clients import SQS_LONG_POLL, AwsClients, opened
from billing.adapters.aws.dynamodb_ledger import DynamoEmailLedger, DynamoReminderLedger
from billing.adapters.aws.errors import aws_errors
from billing.adapters.aws.s3_file_store import S3FileStore
from billing.adapters.aws.sns_publisher import SnsDigestPublisher
from billing.adapters.aws.sqs_queue import SqsQueue
from billing.adapters.clock import SystemClock
from billing.adapters.legacy.mysql_source import MySqlLegacySource
from billing.adapters.metrics.statsd import StatsdMetrics
from billing.adapters.null_metrics import NullMetrics
from billing.adapters.security.hasher import Argon2PasswordHasher, CachingPasswordHasher
from billing.adapters.sql.engine import (
    check_database,
    create_engine,
    create_read_engine,
    database_answers,
    pool_shares,
)
from billing.adapters.sql.idempotency_store import SqlIdempotencyStore
from billing.adapters.sql.migrate import migrate
from billing.adapters.sql.unit_of_work import SqlUnitOfWork
from billing.config import Settings
from billing.domain.model.throttle import RegistrationRules, SignInRules
from billing.domain.use_cases.attach_file import AttachFile
from billing.domain.use_cases.authenticate import Authenticate
from billing.domain.use_cases.create_bill import CreateBill
from billing.domain.use_cases.delete_attachment import DeleteAttachment
from billing.domain.use_cases.delete_bill import DeleteBill
from billing.domain.use_cases.get_attachment import GetAttachment
from billing.domain.use_cases.get_own_bill import GetOwnBill
from billing.domain.use_cases.import_legacy import ImportLegacyData
from billing.domain.use_cases.list_own_bills import ListOwnBills
from billing.domain.use_cases.prepare_due_bills_digest import PrepareDueBillsDigest
from billing.domain.use_cases.prepare_reminder_digest import PrepareReminderDigest
from billing.domain.use_cases.register_user import RegisterUser
from billing.domain.use_cases.request_due_bills_email import RequestDueBillsEmail
from billing.domain.use_cases.run_reminder_round import RunReminderRound
from billing.domain.use_cases.throttle import Throttle
from billing.domain.use_cases.update_bill import UpdateBill
from billing.domain.use_cases.update_profile import UpdateProfile


async def _disposing(engine: AsyncEngine, read_engine: AsyncEngine) -> AsyncIterator[None]:
    """Close the pools' connections at shutdown. The engines themselves are plain singletons:
    creating one does no I/O, and keeping it synchronous keeps every factory that needs it sync."""
    try:
        yield
    finally:
        await engine.dispose()
        if read_engine is not engine:
            await read_engine.dispose()


async def _bootstrap(clients: AwsClients, settings: Settings, local: bool) -> None:
    """Every AWS resource the service uses, idempotently (CloudFormation does this in AWS).
    `local` adds a queue subscribed to the digest topic for the Lambda stand-in. An endpoint that
    cannot be reached raises ServiceUnavailable naming it (one line from the CLI)."""
    with aws_errors(f"AWS at {settings.aws_endpoint_url or settings.aws_region}"):
        await _create_resources(clients, settings, local)


async def _create_resources(clients: AwsClients, settings: Settings, local: bool) -> None:
    await ensure_bucket(clients, settings.s3_bucket, settings.aws_region)
    await ensure_queue(
        clients, settings.due_queue_name, settings.queue_max_receives, settings.worker_visibility_seconds
    )
    topic_arn = await ensure_topic(clients, settings.digest_topic_name)
    await ensure_ledger_table(clients, settings.ledger_table)
    await ensure_sender(clients, settings.mail_sender)
    if local:
        queue_url = await ensure_queue(
            clients, standin_queue_name(settings), settings.queue_max_receives, settings.worker_visibility_seconds
        )
        await subscribe_queue(clients, topic_arn, queue_url)


def standin_queue_name(settings: Settings) -> str:
    """Local mode: the queue subscribed to the digest topic in place of the Lambda."""
    return f"{settings.digest_topic_name}-lambda-standin"


def _metrics_kind(settings: Settings) -> str:
    return "statsd" if settings.statsd_host else "off"


async def _metrics_lifetime(metrics: object) -> AsyncIterator[None]:
    """Open the statsd client's UDP endpoint on the running loop at startup, flush and close it at
    shutdown. Metrics objects are plain singletons (like the engine), so every factory that
    needs one stays synchronous; the other Metrics implementations have no lifetime."""
    if not isinstance(metrics, StatsdMetrics):
        yield
        return
    await metrics.start()
    try:
        yield
    finally:
        await metrics.close()


class Container(containers.DeclarativeContainer):
    """Resources (engine, clients) live from startup to shutdown; units of work and use cases
    are factories, so each request or message gets fresh ones."""

    settings = providers.Dependency(instance_of=Settings)

    clock = providers.Singleton(SystemClock)
    metrics = providers.Selector(
        providers.Callable(_metrics_kind, settings),
        statsd=providers.Singleton(
            StatsdMetrics,
            settings.provided.statsd_host,
            settings.provided.statsd_port,
            settings.provided.statsd_prefix,
        ),
        off=providers.Singleton(NullMetrics),
    )
    metrics_lifetime = providers.Resource(_metrics_lifetime, metrics)
    # BILLING_DB_POOL_SIZE is split between the two pools: (transactions, reads).
    pool_shares = providers.Callable(pool_shares, settings.provided.db_pool_size)
    engine = providers.Singleton(
        create_engine,
        settings.provided.database_url,
        pool_size=pool_shares.provided[0],
        ssl_ca=settings.provided.database_ssl_ca,
    )
    # Reads (the read-only units of work) have their own pool of autocommit connections on MySQL:
    # no ROLLBACK round trip per read. Elsewhere it is the same engine.
    read_engine = providers.Singleton(
        create_read_engine,
        settings.provided.database_url,
        engine,
        pool_size=pool_shares.provided[1],
        ssl_ca=settings.provided.database_ssl_ca,
    )
    engine_lifetime = providers.Resource(_disposing, engine, read_engine)
    password_hasher = providers.Singleton(
        CachingPasswordHasher,
        providers.Singleton(Argon2PasswordHasher),
        ttl_seconds=settings.provided.credential_cache_seconds,
    )
    uow = providers.Factory(SqlUnitOfWork, engine, metrics, settings.provided.db_timeout_seconds)
    read_uow = providers.Factory(
        SqlUnitOfWork, read_engine, metrics, settings.provided.db_timeout_seconds, read_only=True
    )
    idempotency_store = providers.Singleton(SqlIdempotencyStore, uow.provider)

    aws_clients = providers.Singleton(
        AwsClients,
        settings.provided.aws_region,
        settings.provided.aws_endpoint_url,
        services=("s3", "sqs", SQS_LONG_POLL, "sns", "dynamodb", "ses"),
    )
    aws_clients_lifetime = providers.Resource(opened, aws_clients)
    file_store = providers.Singleton(
        S3FileStore, aws_clients, settings.provided.s3_bucket, settings.provided.presign_expiry_seconds, metrics
    )
    due_queue = providers.Singleton(
        SqsQueue, aws_clients, settings.provided.due_queue_url, settings.provided.due_queue_name, metrics
    )
    digest_publisher = providers.Singleton(
        SnsDigestPublisher,
        aws_clients,
        settings.provided.digest_topic_arn,
        settings.provided.digest_topic_name,
        metrics,
    )
    email_ledger = providers.Singleton(DynamoEmailLedger, aws_clients, settings.provided.ledger_table, metrics)
    reminder_ledger = providers.Singleton(DynamoReminderLedger, aws_clients, settings.provided.ledger_table, metrics)
    # Local mode only: the queue standing in for the topic's Lambda subscription.
    standin_queue = providers.Singleton(
        SqsQueue, aws_clients, queue_name=providers.Callable(standin_queue_name, settings), metrics=metrics
    )

    # Operations
    database_ready = providers.Callable(database_answers, engine, settings.provided.db_timeout_seconds)
    # `billing migrate`: the schema, then the application user (BILLING_DATABASE_APP_URL) if set.
    migrate = providers.Callable(
        migrate,
        settings.provided.database_url,
        ssl_ca=settings.provided.database_ssl_ca,
        app_url=settings.provided.database_app_url,
    )
    # Start-up check of the commands that need the database; ServiceUnavailable says what is wrong.
    check_database = providers.Callable(
        check_database, settings.provided.database_url, ssl_ca=settings.provided.database_ssl_ca
    )
    bootstrap = providers.Callable(_bootstrap, aws_clients, settings, False)
    bootstrap_local = providers.Callable(_bootstrap, aws_clients, settings, True)

    # Throttling: counters in the database, shared by every process and instance.
    sign_in_rules = providers.Singleton(
        SignInRules,
        window=providers.Factory(timedelta, seconds=settings.provided.login_window_seconds),
        per_pair=settings.provided.login_failures_per_pair,
        per_address=settings.provided.login_failures_per_address,
        per_account=settings.provided.login_failures_per_account,
    )
    registration_rules = providers.Singleton(
        RegistrationRules,
        window=providers.Factory(timedelta, seconds=settings.provided.registration_window_seconds),
        per_address=settings.provided.registrations_per_address,
    )
    throttle = providers.Singleton(Throttle, uow.provider, clock)

    # Use cases
    authenticate = providers.Factory(Authenticate, uow, password_hasher, clock, throttle, sign_in_rules,
                                     reads=read_uow)
    register_user = providers.Factory(RegisterUser, uow, password_hasher, clock, throttle, registration_rules)
    update_profile = providers.Factory(UpdateProfile, uow, password_hasher, clock)
    create_bill = providers.Factory(CreateBill, uow, clock)
    get_own_bill = providers.Factory(GetOwnBill, read_uow, authenticate, file_store)
    list_own_bills = providers.Factory(ListOwnBills, read_uow, authenticate, file_store)
    update_bill = providers.Factory(UpdateBill, uow, clock)
    delete_bill = providers.Factory(DeleteBill, uow, file_store)
    attach_file = providers.Factory(AttachFile, uow, file_store, clock, settings.provided.max_upload_bytes)
    get_attachment = providers.Factory(GetAttachment, read_uow, file_store)
    delete_attachment = providers.Factory(DeleteAttachment, uow, file_store)
    request_due_bills_email = providers.Factory(RequestDueBillsEmail, due_queue, clock)
    prepare_due_bills_digest = providers.Factory(
        PrepareDueBillsDigest, uow, email_ledger, digest_publisher, clock, settings.provided.base_url
    )
    run_reminder_round = providers.Factory(RunReminderRound, read_uow, due_queue, clock)
    prepare_reminder_digest = providers.Factory(
        PrepareReminderDigest, read_uow, reminder_ledger, digest_publisher, clock, settings.provided.base_url
    )

    # Moving from the old webapp: the caller names the old database, `legacy_source(url)`,
    # and passes the source on, `import_legacy_data(source=...)`; it closes the source afterwards.
    legacy_source = providers.Factory(MySqlLegacySource)
    import_legacy_data = providers.Factory(ImportLegacyData, uow=uow, source=legacy_source, store=file_store)


async def init_resources(container: Container) -> None:
    """Start every Resource. dependency-injector types init_resources() as `Awaitable | None`
    (None when all resources are synchronous); ours are async, so it is awaited when there is one."""
    started = container.init_resources()
    if started is not None:
        await started


async def init_resource(resource: providers.Resource[Any]) -> None:
    """Start one Resource (same typing as init_resources)."""
    started = resource.init()
    if started is not None:
        await started


async def shutdown_resources(container: Container) -> None:
    """Close every Resource started by init_resources, in reverse order."""
    stopped = container.shutdown_resources()
    if stopped is not None:
        await stopped
