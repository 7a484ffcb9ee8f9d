"""A queue consumer: long polling, bounded concurrency, delete only after success, visibility kept
while working, failures left for redelivery (and the dead-letter queue), unreadable messages moved
to the dead-letter queue at once, graceful stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from billing.domain.model import ServiceUnavailable
from billing.domain.model.due_bills import InvalidMessage
from billing.entrypoints.logging_setup import log_context
from billing.ports import InboundMessage, InboundQueue, Metrics

MAX_BATCH = 10  # SQS's largest batch
STOP_GRACE_SECONDS = 20.0  # in-flight work gets this long after a stop request, then it is abandoned

Handler = Callable[[InboundMessage], Awaitable[str]]  # returns the outcome's name ("skipped..." counts as a duplicate)


class QueueConsumer:
    def __init__(
        self,
        queue: InboundQueue,
        handle: Handler,
        *,
        name: str,
        metrics: Metrics,
        concurrency: int = 10,
        wait_seconds: int = 20,
        visibility_seconds: int = 60,
        retry_delay_seconds: int = 5,
        max_receives: int = 5,
    ) -> None:
        self._queue = queue
        self._handle = handle
        self._name = name
        self._metrics = metrics
        self._concurrency = concurrency
        self._wait = wait_seconds
        self._visibility = visibility_seconds
        self._retry_delay = retry_delay_seconds
        self._max_receives = max_receives
        self._log = logging.getLogger(f"billing.{name}")
        self._in_flight: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; then stop polling and let in-flight messages finish."""
        self._log.info("%s: consuming", self._name)
        stop_waiter = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                free = self._concurrency - len(self._in_flight)
                if free <= 0:
                    await asyncio.wait({*self._in_flight, stop_waiter}, return_when=asyncio.FIRST_COMPLETED)
                    continue
                receiving = asyncio.ensure_future(self._queue.receive(min(MAX_BATCH, free), self._wait))
                await asyncio.wait({receiving, stop_waiter}, return_when=asyncio.FIRST_COMPLETED)
                if not receiving.done():
                    # Stopping mid-poll: anything SQS hands out now becomes visible again after the
                    # visibility timeout, so abandoning the call loses nothing.
                    receiving.cancel()
                    break
                try:
                    messages = receiving.result()
                except ServiceUnavailable as exc:
                    self._log.warning("%s: queue unavailable (%s); retrying", self._name, exc)
                    await asyncio.wait({stop_waiter}, timeout=1.0)
                    continue
                for message in messages:
                    self._metrics.increment(f"{self._name}.messages.received")
                    task = asyncio.create_task(self._process(message))
                    self._in_flight.add(task)
                    task.add_done_callback(self._in_flight.discard)
        finally:
            stop_waiter.cancel()
            await self._drain()
        self._log.info("%s: stopped", self._name)

    async def _drain(self) -> None:
        if not self._in_flight:
            return
        _, pending = await asyncio.wait(set(self._in_flight), timeout=STOP_GRACE_SECONDS)
        for task in pending:  # abandoned, never deleted: they will be redelivered
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _process(self, message: InboundMessage) -> None:
        with log_context(message_id=message.message_id):
            await self._process_in_context(message)

    async def _process_in_context(self, message: InboundMessage) -> None:
        keeper = asyncio.create_task(self._keep_hidden(message))
        try:
            outcome = await self._handle(message)
        except InvalidMessage as exc:
            keeper.cancel()
            await self._reject(message, exc)
            return
        except Exception as exc:
            keeper.cancel()
            await self._retry_later(message, exc)
            return
        finally:
            keeper.cancel()
        try:
            await self._queue.delete(message)
        except ServiceUnavailable:
            # Done but not acknowledged: it will come back, and handling it again is harmless.
            self._log.warning("%s: could not delete message %s; it will be redelivered", self._name, message.message_id)
            return
        self._metrics.increment(f"{self._name}.messages.processed")
        if outcome.startswith("skipped"):
            self._metrics.increment(f"{self._name}.messages.skipped_duplicate")
        self._log.info("%s: message %s %s", self._name, message.message_id, outcome)

    async def _reject(self, message: InboundMessage, exc: InvalidMessage) -> None:
        """No retry of this code can read it (malformed, or a type or version it does not know):
        straight to the dead-letter queue, where an operator sees it, never retried for nothing."""
        self._metrics.increment(f"{self._name}.messages.rejected", tags={"reason": str(exc.reason)})
        try:
            await self._queue.dead_letter(message, str(exc.reason))
        except Exception as move_error:
            self._log.warning("%s: could not move message %s to the dead-letter queue (%s)", self._name,
                              message.message_id, move_error)
            await self._retry_later(message, exc)
            return
        self._metrics.increment(f"{self._name}.messages.dead_lettered")
        self._log.error("%s: message %s rejected (%s: %s); moved to the dead-letter queue", self._name,
                        message.message_id, exc.reason, exc)

    async def _retry_later(self, message: InboundMessage, exc: Exception) -> None:
        self._failed(message, exc)
        with contextlib.suppress(Exception):
            await self._queue.hide(message, self._retry_delay * min(2 ** (message.receive_count - 1), 60))

    def _failed(self, message: InboundMessage, exc: Exception) -> None:
        self._metrics.increment(f"{self._name}.messages.failed")
        last = message.receive_count >= self._max_receives
        if last:
            self._metrics.increment(f"{self._name}.messages.dead_lettered")
        level = logging.WARNING if isinstance(exc, ServiceUnavailable) else logging.ERROR
        self._log.log(
            level, "%s: message %s failed on delivery %d%s: %s", self._name, message.message_id,
            message.receive_count, " (last: it goes to the dead-letter queue)" if last else "",
            exc if isinstance(exc, InvalidMessage | ServiceUnavailable) else repr(exc),
        )

    async def _keep_hidden(self, message: InboundMessage) -> None:
        """Slow work must not let the message reappear for another consumer meanwhile."""
        while True:
            await asyncio.sleep(self._visibility / 2)
            with contextlib.suppress(ServiceUnavailable):
                await self._queue.hide(message, self._visibility)
