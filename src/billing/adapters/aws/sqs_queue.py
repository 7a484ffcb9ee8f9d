"""SQS: the due-bills request queue (sending side) and any queue's consuming side."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from billing.adapters.aws.clients import AwsClients
from billing.adapters.null_metrics import NullMetrics
from billing.adapters.aws.errors import aws_call
from billing.domain.model.due_bills import DueBillsRequest
from billing.ports import InboundMessage, Metrics


class SqsQueue:
    """One SQS queue, by URL or (resolved once) by name. Implements DueBillsRequestQueue and InboundQueue."""

    def __init__(self, clients: AwsClients, queue_url: str = "", queue_name: str = "",
                 metrics: Metrics | None = None) -> None:
        if not (queue_url or queue_name):
            raise ValueError("an SQS queue needs a URL or a name")
        self._clients = clients
        self._metrics: Metrics = metrics or NullMetrics()
        self._url = queue_url
        self._name = queue_name
        self._resolving = asyncio.Lock()  # concurrent first messages look the URL up once

    async def url(self) -> str:
        if not self._url:
            async with self._resolving:
                if not self._url:
                    with aws_call(self._metrics, "SQS", "get_queue_url"):
                        self._url = str((await self._sqs.get_queue_url(QueueName=self._name))["QueueUrl"])
        return self._url

    @property
    def _sqs(self) -> Any:
        return self._clients["sqs"]

    async def send(self, request: DueBillsRequest) -> None:
        url = await self.url()
        with aws_call(self._metrics, "SQS", "send_message"):
            await self._sqs.send_message(QueueUrl=url, MessageBody=request.to_json())

    async def receive(self, max_messages: int, wait_seconds: int) -> Sequence[InboundMessage]:
        url = await self.url()
        with aws_call(self._metrics, "SQS", "receive_message"):
            response = await self._sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=max_messages, WaitTimeSeconds=wait_seconds,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            )
        return [
            InboundMessage(m["MessageId"], m["ReceiptHandle"], m["Body"],
                           int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1")))
            for m in response.get("Messages", [])
        ]

    async def delete(self, message: InboundMessage) -> None:
        url = await self.url()
        with aws_call(self._metrics, "SQS", "delete_message"):
            await self._sqs.delete_message(QueueUrl=url, ReceiptHandle=message.receipt)

    async def hide(self, message: InboundMessage, seconds: int) -> None:
        url = await self.url()
        with aws_call(self._metrics, "SQS", "change_message_visibility"):
            await self._sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message.receipt,
                                                      VisibilityTimeout=seconds)
