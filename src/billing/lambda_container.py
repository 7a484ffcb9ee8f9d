"""Composition root of the email Lambda: only what sending needs (DynamoDB, SES), so the Lambda
package carries neither the database drivers nor the web server."""

from __future__ import annotations

from dependency_injector import containers, providers

from billing.adapters.aws.clients import AwsClients, opened
from billing.adapters.aws.dynamodb_ledger import DynamoEmailLedger
from billing.adapters.aws.mailers import build_mailer
from billing.adapters.clock import SystemClock
from billing.adapters.null_metrics import NullMetrics
from billing.config import Settings
from billing.domain.use_cases.send_due_bills_email import SendDueBillsEmail


class EmailContainer(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    clock = providers.Singleton(SystemClock)
    metrics = providers.Singleton(NullMetrics)
    aws_clients = providers.Singleton(
        AwsClients, settings.provided.aws_region, settings.provided.aws_endpoint_url, services=("dynamodb", "ses")
    )
    aws_clients_lifetime = providers.Resource(opened, aws_clients)
    ledger = providers.Singleton(DynamoEmailLedger, aws_clients, settings.provided.ledger_table, metrics)
    mailer = providers.Singleton(
        build_mailer, aws_clients, settings.provided.mail_sender, settings.provided.outbox_dir, metrics
    )

    send_due_bills_email = providers.Factory(SendDueBillsEmail, ledger, mailer, clock)
