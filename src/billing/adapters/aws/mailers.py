from __future__ import annotations

from billing.adapters.aws.clients import AwsClients
from billing.adapters.aws.outbox import OutboxCopyingMailer
from billing.adapters.aws.ses_mailer import SesMailer
from billing.ports import Mailer, Metrics


def build_mailer(clients: AwsClients, sender: str, outbox_dir: str, metrics: Metrics | None = None) -> Mailer:
    """SES, plus a copy of each email in `outbox_dir` when one is configured (embedded mode)."""
    ses = SesMailer(clients, sender, metrics)
    return OutboxCopyingMailer(ses, outbox_dir, sender) if outbox_dir else ses
