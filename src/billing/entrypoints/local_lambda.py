"""The embedded mode's stand-in for SNS → Lambda: the emulator cannot run Lambdas, so a queue
subscribed to the topic is consumed here and each delivery invokes the real handler with the
event shape Lambda would pass."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from billing.container import Container
from billing.entrypoints import lambda_handler
from billing.entrypoints.consumer import QueueConsumer
from billing.ports import InboundMessage


def sns_event(envelope: dict[str, Any], subscription_arn: str = "local:standin") -> dict[str, Any]:
    """The Lambda event for one SNS notification, from the envelope SNS delivers to SQS."""
    return {
        "Records": [{
            "EventSource": "aws:sns",
            "EventVersion": "1.0",
            "EventSubscriptionArn": subscription_arn,
            "Sns": {
                "Type": envelope.get("Type", "Notification"),
                "MessageId": envelope["MessageId"],
                "TopicArn": envelope["TopicArn"],
                "Subject": envelope.get("Subject"),
                "Message": envelope["Message"],
                "Timestamp": envelope["Timestamp"],
                "SignatureVersion": envelope.get("SignatureVersion", "1"),
                "Signature": envelope.get("Signature", ""),
                "SigningCertUrl": envelope.get("SigningCertURL", ""),
                "UnsubscribeUrl": envelope.get("UnsubscribeURL", ""),
                "MessageAttributes": envelope.get("MessageAttributes", {}),
            },
        }]
    }


class LambdaStandin:
    """Consumes the stand-in queue until stopped, then closes the handler's clients."""

    def __init__(self, container: Container) -> None:
        # One thread: like one Lambda container, invocations run one at a time on the handler's own loop.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lambda")
        self._consumer = _consumer(container, self._executor)

    async def run(self, stop: asyncio.Event) -> None:
        try:
            await self._consumer.run(stop)
        finally:
            await asyncio.get_running_loop().run_in_executor(self._executor, lambda_handler.close_runtime)
            self._executor.shutdown()


def _consumer(container: Container, executor: ThreadPoolExecutor) -> QueueConsumer:
    settings = container.settings()

    async def invoke(message: InboundMessage) -> str:
        event = sns_event(json.loads(message.body))
        result = await asyncio.get_running_loop().run_in_executor(executor, lambda_handler.handler, event, None)
        return ",".join(result["outcomes"])

    return QueueConsumer(
        container.standin_queue(), invoke, name="lambda_standin", metrics=container.metrics(),
        concurrency=1, wait_seconds=settings.worker_wait_seconds, visibility_seconds=settings.worker_visibility_seconds,
        retry_delay_seconds=1, max_receives=settings.queue_max_receives,
    )
