"""SQS: the due-bills request queue (sending side) and any queue's consuming side."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from billing.adapters.aws.clients import LONG_POLL_SECONDS, SQS_LONG_POLL, AwsClients
from billing.adapters.aws.errors import aws_call
from billing.adapters.null_metrics import NullMetrics
from billing.domain.model import ServiceUnavailable
from billing.domain.model.due_bills import DueBillsRequest, Reminder
from billing.domain.model.reminders import REMINDER_BATCH
from billing.ports import InboundMessage, Metrics

# A batch's entries that SQS reports failed are sent again this many times, after a short pause.
BATCH_ATTEMPTS = 4
BATCH_RETRY_PAUSE = 0.2  # seconds, doubled per attempt

# Message attributes of a message the consumer moved to the dead-letter queue.
REJECTED_REASON = "billing.rejected_reason"
ORIGINAL_MESSAGE_ID = "billing.original_message_id"


class SqsQueue:
    """One SQS queue, by URL or (resolved once) by name. Implements DueBillsRequestQueue,
    ReminderQueue and InboundQueue."""

    def __init__(self, clients: AwsClients, queue_url: str = "", queue_name: str = "",
                 metrics: Metrics | None = None) -> None:
        if not (queue_url or queue_name):
            raise ValueError("an SQS queue needs a URL or a name")
        self._clients = clients
        self._metrics: Metrics = metrics or NullMetrics()
        self._url = queue_url
        self._name = queue_name
        self._dead_letter_url = ""
        self._resolving = asyncio.Lock()  # concurrent first messages look the URLs up once

    async def url(self) -> str:
        if not self._url:
            async with self._resolving:
                if not self._url:
                    with aws_call(self._metrics, "SQS", "get_queue_url"):
                        self._url = str((await self._sqs.get_queue_url(QueueName=self._name))["QueueUrl"])
        return self._url

    async def dead_letter_url(self) -> str:
        """The URL of the queue's dead-letter queue, from its own redrive policy (so it cannot
        disagree with where SQS moves messages). RuntimeError when the queue has none."""
        if not self._dead_letter_url:
            url = await self.url()
            async with self._resolving:
                if not self._dead_letter_url:
                    with aws_call(self._metrics, "SQS", "get_queue_attributes"):
                        attributes = (await self._sqs.get_queue_attributes(
                            QueueUrl=url, AttributeNames=["RedrivePolicy"]))["Attributes"]
                    if "RedrivePolicy" not in attributes:
                        raise RuntimeError("the queue has no redrive policy, so no dead-letter queue")
                    # arn:aws:sqs:<region>:<account>:<name>; a dead-letter queue is in the same account and region.
                    arn = str(json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"])
                    account, name = arn.split(":")[4:6]
                    with aws_call(self._metrics, "SQS", "get_queue_url"):
                        self._dead_letter_url = str((await self._sqs.get_queue_url(
                            QueueName=name, QueueOwnerAWSAccountId=account))["QueueUrl"])
        return self._dead_letter_url

    @property
    def _sqs(self) -> Any:
        return self._clients["sqs"]

    async def send(self, request: DueBillsRequest) -> None:
        url = await self.url()
        with aws_call(self._metrics, "SQS", "send_message"):
            await self._sqs.send_message(QueueUrl=url, MessageBody=request.to_json())

    async def send_batch(self, reminders: Sequence[Reminder]) -> None:
        if not 1 <= len(reminders) <= REMINDER_BATCH:
            raise ValueError(f"a batch holds 1-{REMINDER_BATCH} messages")
        url = await self.url()
        pending = {str(i): r for i, r in enumerate(reminders)}  # entry ids: unique within the batch
        for attempt in range(BATCH_ATTEMPTS):
            if attempt:
                await asyncio.sleep(BATCH_RETRY_PAUSE * 2 ** (attempt - 1))
            with aws_call(self._metrics, "SQS", "send_message_batch"):
                response = await self._sqs.send_message_batch(QueueUrl=url, Entries=[
                    {"Id": entry_id, "MessageBody": r.to_json()} for entry_id, r in pending.items()])
            failed = response.get("Failed", [])
            # A sender's fault (a malformed entry) will not pass on a retry: it is a bug, raised as such.
            if faults := [f for f in failed if f.get("SenderFault")]:
                raise RuntimeError(f"SQS refused reminder entries: {faults[0].get('Code')}: {faults[0].get('Message')}")
            pending = {f["Id"]: pending[f["Id"]] for f in failed}
            if not pending:
                return
        raise ServiceUnavailable(f"SQS did not accept {len(pending)} of {len(reminders)} reminders")

    async def receive(self, max_messages: int, wait_seconds: int) -> Sequence[InboundMessage]:
        if not 0 <= wait_seconds <= LONG_POLL_SECONDS:
            raise ValueError(f"wait_seconds must be 0-{LONG_POLL_SECONDS}")
        url = await self.url()
        with aws_call(self._metrics, "SQS", "receive_message"):
            # The long-poll client: its read timeout outlasts the wait (adapters/aws/clients.py).
            response = await self._clients[SQS_LONG_POLL].receive_message(
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

    async def dead_letter(self, message: InboundMessage, reason: str) -> None:
        target = await self.dead_letter_url()
        with aws_call(self._metrics, "SQS", "send_message"):
            await self._sqs.send_message(QueueUrl=target, MessageBody=message.body, MessageAttributes={
                REJECTED_REASON: {"DataType": "String", "StringValue": reason},
                ORIGINAL_MESSAGE_ID: {"DataType": "String", "StringValue": message.message_id},
            })
        await self.delete(message)
