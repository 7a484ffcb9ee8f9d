"""Composition root of the email Lambda: only what sending needs (DynamoDB, SES), so the Lambda
package carries neither the database drivers nor the web server."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping

from dependency_injector import containers, providers

from billing.adapters.aws.clients import AwsClients, opened
from billing.adapters.aws.dynamodb_ledger import DynamoEmailLedger, DynamoReminderLedger
from billing.adapters.aws.mailers import build_mailer
from billing.adapters.clock import SystemClock
from billing.adapters.metrics.emf import EmfMetrics
from billing.adapters.null_metrics import NullMetrics
from billing.config import Settings
from billing.domain.use_cases.send_due_bills_email import SendDueBillsEmail
from billing.domain.use_cases.send_reminder_email import SendReminderEmail
from billing.ports.metrics import Metrics


def lambda_metrics(settings: Settings, environ: Mapping[str, str] | None = None) -> Metrics:
    """In AWS Lambda (AWS_LAMBDA_FUNCTION_NAME is set by the runtime) metrics are Embedded Metric
    Format lines on stdout, which CloudWatch Logs turns into metrics: there is no statsd agent to
    send to. The function's name is a dimension, so environments stay apart in the namespace.
    Elsewhere (the embedded mode's stand-in, tests) they go to the statsd agent when
    BILLING_STATSD_HOST names one, like the rest of the service's, and are off otherwise."""
    environ = os.environ if environ is None else environ
    function = environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
    if function:
        return EmfMetrics(prefix=settings.statsd_prefix, dimensions={"FunctionName": function})
    if settings.statsd_host:
        # Imported here: the Lambda package carries neither this adapter nor aiodogstatsd.
        from billing.adapters.metrics.statsd import StatsdMetrics

        return StatsdMetrics(settings.statsd_host, settings.statsd_port, settings.statsd_prefix)
    return NullMetrics()


async def _metrics_lifetime(metrics: Metrics) -> AsyncIterator[None]:
    """A statsd client opens its UDP endpoint on the running loop and flushes at shutdown; the
    other Metrics implementations have no lifetime."""
    start, close = getattr(metrics, "start", None), getattr(metrics, "close", None)
    if start is None or close is None:
        yield
        return
    await start()
    try:
        yield
    finally:
        await close()


class EmailContainer(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    clock = providers.Singleton(SystemClock)
    metrics = providers.Singleton(lambda_metrics, settings)
    metrics_lifetime = providers.Resource(_metrics_lifetime, metrics)
    aws_clients = providers.Singleton(
        AwsClients, settings.provided.aws_region, settings.provided.aws_endpoint_url, services=("dynamodb", "ses")
    )
    aws_clients_lifetime = providers.Resource(opened, aws_clients)
    ledger = providers.Singleton(DynamoEmailLedger, aws_clients, settings.provided.ledger_table, metrics)
    reminder_ledger = providers.Singleton(DynamoReminderLedger, aws_clients, settings.provided.ledger_table, metrics)
    mailer = providers.Singleton(
        build_mailer, aws_clients, settings.provided.mail_sender, settings.provided.outbox_dir, metrics
    )

    send_due_bills_email = providers.Factory(SendDueBillsEmail, ledger, mailer, clock)
    send_reminder_email = providers.Factory(SendReminderEmail, reminder_ledger, mailer, clock)
