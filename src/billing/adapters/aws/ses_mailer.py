"""SES: sends the due-bills email (HTML and plain text)."""

from __future__ import annotations

from typing import Any

from billing.adapters.aws.clients import AwsClients
from billing.adapters.aws.errors import aws_call
from billing.adapters.null_metrics import NullMetrics
from billing.domain.model.due_bills import Email
from billing.ports import Metrics


class SesMailer:
    """Implements Mailer with SES SendEmail. Errors propagate (the Lambda must retry)."""

    def __init__(self, clients: AwsClients, sender: str, metrics: Metrics | None = None) -> None:
        self._clients = clients
        self._metrics: Metrics = metrics or NullMetrics()
        self._sender = sender

    @property
    def _ses(self) -> Any:
        return self._clients["ses"]

    async def send(self, email: Email) -> str:
        with aws_call(self._metrics, "SES", "send_email"):
            response = await self._ses.send_email(
                Source=self._sender,
                Destination={"ToAddresses": [email.to]},
                Message={
                    "Subject": {"Data": email.subject, "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": email.text, "Charset": "UTF-8"},
                             "Html": {"Data": email.html, "Charset": "UTF-8"}},
                },
            )
        return str(response["MessageId"])
