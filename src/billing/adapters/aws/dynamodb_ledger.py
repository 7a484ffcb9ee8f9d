"""DynamoDB: the email ledger. One item per user for the on-demand email, expiring 60 minutes
after its send; one item per user and UTC day for the reminder, expiring a day after that day."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from botocore.exceptions import ClientError

from billing.adapters.aws.clients import AwsClients
from billing.adapters.aws.errors import aws_call, error_code
from billing.adapters.null_metrics import NullMetrics
from billing.domain.model.due_bills import EMAIL_WINDOW
from billing.ports import Metrics

# How long a claim may stay in "sending" before a retry of the same request may take it over
# (the sender died between claiming and sending). Longer than any SES call plus retries.
LEASE = timedelta(minutes=2)


def _epoch(moment: datetime) -> str:
    return str(int(moment.timestamp()))  # DynamoDB numbers travel as strings; TTL wants epoch seconds


def _claim_item(key: str, holder: tuple[str, UUID], now: datetime, expires_at: datetime) -> dict[str, Any]:
    """A claim in "sending", held by `holder` (its attribute and id) until its lease runs out."""
    name, holder_id = holder
    return {
        "user_id": {"S": key},
        name: {"S": str(holder_id)},
        "state": {"S": "sending"},
        "claimed_at": {"N": _epoch(now)},
        "expires_at": {"N": _epoch(expires_at)},
        "lease_until": {"N": _epoch(now + LEASE)},
    }


class _LedgerTable:
    """The table both ledgers keep their items in (keyed by `user_id`), and the conditional writes
    they share; each ledger says what its key, its holder and its conditions are."""

    def __init__(self, clients: AwsClients, table: str, metrics: Metrics | None = None) -> None:
        self._clients = clients
        self._metrics: Metrics = metrics or NullMetrics()
        self._table = table

    @property
    def _dynamodb(self) -> Any:
        return self._clients["dynamodb"]

    async def _item(self, key: str) -> dict[str, Any] | None:
        with aws_call(self._metrics, "DynamoDB", "get_item"):
            response = await self._dynamodb.get_item(TableName=self._table, Key={"user_id": {"S": key}},
                                                     ConsistentRead=True)
        item: dict[str, Any] | None = response.get("Item")
        return item

    async def _put_claim(self, item: dict[str, Any], condition: str, values: dict[str, Any]) -> bool:
        """Write `item` if `condition` holds: False when it does not (someone else holds the claim)."""
        try:
            with aws_call(self._metrics, "DynamoDB", "put_item"):
                await self._dynamodb.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression=condition,
                    ExpressionAttributeNames={"#state": "state"},
                    ExpressionAttributeValues=values,
                )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    async def _release(self, key: str, condition: str, values: dict[str, Any]) -> None:
        try:
            with aws_call(self._metrics, "DynamoDB", "delete_item"):
                await self._dynamodb.delete_item(
                    TableName=self._table,
                    Key={"user_id": {"S": key}},
                    ConditionExpression=condition,
                    ExpressionAttributeNames={"#state": "state"},
                    ExpressionAttributeValues=values,
                )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":  # not ours any more: nothing to give back
                raise


class DynamoEmailLedger(_LedgerTable):
    """Implements EmailLedger. Item: user_id (key), request_id, state (sending|sent),
    expires_at (epoch seconds, the table's TTL attribute), lease_until (epoch seconds)."""

    async def sent_recently(self, user_id: UUID, now: datetime) -> bool:
        item = await self._item(str(user_id))
        # TTL deletion is lazy: an expired item may still be there, so compare ourselves.
        return (item is not None and item["state"]["S"] == "sent"
                and int(item["expires_at"]["N"]) > int(now.timestamp()))

    async def claim(self, user_id: UUID, request_id: UUID, now: datetime) -> bool:
        return await self._put_claim(
            _claim_item(str(user_id), ("request_id", request_id), now, now + EMAIL_WINDOW),
            "attribute_not_exists(user_id) OR expires_at <= :now"
            " OR (request_id = :rid AND #state = :sending AND lease_until <= :now)",
            {":now": {"N": _epoch(now)}, ":rid": {"S": str(request_id)}, ":sending": {"S": "sending"}},
        )

    async def mark_sent(self, user_id: UUID, request_id: UUID, now: datetime) -> None:
        try:
            with aws_call(self._metrics, "DynamoDB", "update_item"):
                await self._dynamodb.update_item(
                    TableName=self._table,
                    Key={"user_id": {"S": str(user_id)}},
                    UpdateExpression="SET #state = :sent, sent_at = :now",
                    ConditionExpression="request_id = :rid",
                    ExpressionAttributeNames={"#state": "state"},
                    ExpressionAttributeValues={":sent": {"S": "sent"}, ":now": {"N": _epoch(now)},
                                               ":rid": {"S": str(request_id)}},
                )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":  # the window passed and another took it
                raise

    async def release(self, user_id: UUID, request_id: UUID) -> None:
        await self._release(str(user_id), "request_id = :rid AND #state = :sending",
                            {":rid": {"S": str(request_id)}, ":sending": {"S": "sending"}})


# A reminder's item outlives its day by this much (TTL deletion is lazy and its day is in its key:
# nothing reads an old item, this only keeps the table small).
REMINDER_KEEP = timedelta(days=2)


def reminder_key(user_id: UUID, day: date) -> str:
    """The reminder's item key: apart from the user's on-demand item (keyed by the bare id)."""
    return f"{user_id}#reminder#{day.isoformat()}"


class DynamoReminderLedger(_LedgerTable):
    """Implements ReminderLedger in the email ledger's table. Item: user_id = `<id>#reminder#<day>`
    (key), claimant, state (sending|sent), expires_at (epoch seconds, the TTL attribute: two days
    after the day begins), lease_until (epoch seconds)."""

    async def sent(self, user_id: UUID, day: date) -> bool:
        item = await self._item(reminder_key(user_id, day))
        return item is not None and item["state"]["S"] == "sent"

    async def claim(self, user_id: UUID, day: date, claimant: UUID, now: datetime) -> bool:
        # Free, or a claim whose sender died before marking it (its lease ran out): never a sent one.
        return await self._put_claim(
            _claim_item(reminder_key(user_id, day), ("claimant", claimant), now,
                        datetime.combine(day, time(), UTC) + REMINDER_KEEP),
            "attribute_not_exists(user_id) OR (#state = :sending AND lease_until <= :now)",
            {":now": {"N": _epoch(now)}, ":sending": {"S": "sending"}},
        )

    async def mark_sent(self, user_id: UUID, day: date, claimant: UUID, now: datetime) -> None:
        # Unconditional on the claimant: the email went out, so the day is done whoever holds the claim.
        with aws_call(self._metrics, "DynamoDB", "update_item"):
            await self._dynamodb.update_item(
                TableName=self._table,
                Key={"user_id": {"S": reminder_key(user_id, day)}},
                UpdateExpression="SET #state = :sent, sent_at = :now, sent_by = :claimant",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":sent": {"S": "sent"}, ":now": {"N": _epoch(now)},
                                           ":claimant": {"S": str(claimant)}},
            )

    async def release(self, user_id: UUID, day: date, claimant: UUID) -> None:
        await self._release(reminder_key(user_id, day), "claimant = :claimant AND #state = :sending",
                            {":claimant": {"S": str(claimant)}, ":sending": {"S": "sending"}})
