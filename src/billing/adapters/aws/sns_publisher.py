"""SNS: the digest topic the email Lambda is subscribed to."""

from __future__ import annotations

import asyncio
from typing import Any

from billing.adapters.aws.clients import AwsClients
from billing.adapters.aws.errors import aws_call
from billing.adapters.null_metrics import NullMetrics
from billing.domain.model.due_bills import Digest, ReminderDigest
from billing.ports import Metrics


class SnsDigestPublisher:
    """Implements DigestPublisher. Takes the topic ARN, or (locally) a name resolved once."""

    def __init__(self, clients: AwsClients, topic_arn: str = "", topic_name: str = "",
                 metrics: Metrics | None = None) -> None:
        if not (topic_arn or topic_name):
            raise ValueError("an SNS topic needs an ARN or a name")
        self._clients = clients
        self._metrics: Metrics = metrics or NullMetrics()
        self._arn = topic_arn
        self._name = topic_name
        self._resolving = asyncio.Lock()  # concurrent first digests resolve the ARN once

    @property
    def _sns(self) -> Any:
        return self._clients["sns"]

    async def arn(self) -> str:
        if not self._arn:
            async with self._resolving:
                if not self._arn:  # CreateTopic is idempotent: it returns the existing topic's ARN
                    with aws_call(self._metrics, "SNS", "create_topic"):
                        self._arn = str((await self._sns.create_topic(Name=self._name))["TopicArn"])
        return self._arn

    async def publish(self, digest: Digest) -> None:
        arn = await self.arn()
        subject = "reminder digest" if isinstance(digest, ReminderDigest) else "due-bills digest"
        with aws_call(self._metrics, "SNS", "publish"):
            await self._sns.publish(TopicArn=arn, Message=digest.to_json(), Subject=subject)
