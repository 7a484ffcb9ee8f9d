"""The AWS Lambda handler for the SNS-triggered email step: `billing.entrypoints.lambda_handler.handler`.

One event loop and one set of clients per Lambda container, created on the first invocation and
reused by the next ones (never `asyncio.run` per invocation). Any failure raises, so Lambda
retries the event and finally hands it to the on-failure destination.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from typing import Any, assert_never

# In AWS Lambda the objects imported at cold start live as long as the container and hold no garbage:
# collect nothing while they load, then freeze them so later collections skip them. Elsewhere the
# process's collector is left alone. (Cold-start figures: bench/README.md.)
_IN_AWS_LAMBDA = "AWS_LAMBDA_FUNCTION_NAME" in os.environ  # set by the Lambda runtime
if _IN_AWS_LAMBDA:
    gc.disable()
try:
    from billing.config import Settings
    from billing.domain.model.due_bills import DueBillsDigest, ReminderDigest, read_digest
    from billing.domain.use_cases.send_due_bills_email import SendOutcome
    from billing.lambda_container import EmailContainer
    from billing.ports.metrics import LAMBDA_EMAILS_DEDUPLICATED, LAMBDA_EMAILS_SENT
finally:
    if _IN_AWS_LAMBDA:
        gc.freeze()
        gc.enable()

log = logging.getLogger("billing.lambda")


class LambdaRuntime:
    def __init__(self, container: EmailContainer) -> None:
        self.container = container
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self._call(container.init_resources))

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.loop.run_until_complete(self._handle(event))

    async def _handle(self, event: dict[str, Any]) -> dict[str, Any]:
        outcomes = []
        metrics = self.container.metrics()
        for record in event.get("Records", []):
            digest = read_digest(record["Sns"]["Message"])
            if isinstance(digest, DueBillsDigest):
                outcome = await self.container.send_due_bills_email().execute(digest)
            elif isinstance(digest, ReminderDigest):
                outcome = await self.container.send_reminder_email().execute(digest)
            else:
                assert_never(digest)  # mypy: a new kind of Digest needs its branch here
            metrics.increment(LAMBDA_EMAILS_SENT if outcome == SendOutcome.SENT else LAMBDA_EMAILS_DEDUPLICATED)
            log.info("%s email for request %s: %s", "reminder" if isinstance(digest, ReminderDigest) else "due-bills",
                     digest.request_id, outcome)
            outcomes.append(str(outcome))
        return {"outcomes": outcomes}

    def close(self) -> None:
        self.loop.run_until_complete(self._call(self.container.shutdown_resources))
        self.loop.close()

    @staticmethod
    async def _call(operation: Any) -> None:
        # Inside the running loop: dependency-injector creates its futures on the current loop.
        await operation()


_runtime: LambdaRuntime | None = None


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _runtime
    if _runtime is None:
        settings = Settings.from_env()
        logging.getLogger().setLevel(settings.log_level_number)
        _runtime = LambdaRuntime(EmailContainer(settings=settings))
    return _runtime.invoke(event)


def close_runtime() -> None:
    """Close the cached runtime's clients (the embedded mode's stand-in calls this at shutdown;
    in AWS the container is simply frozen and discarded)."""
    global _runtime
    if _runtime is not None:
        runtime, _runtime = _runtime, None
        runtime.close()
