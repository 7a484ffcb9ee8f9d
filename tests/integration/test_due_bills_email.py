"""The due-bills email, HTTP → SQS → worker → DynamoDB → SNS → Lambda → SES, on moto server.

Each guarantee of the issue is one test. The Lambda is invoked by the tests with the real SNS
event shape (moto cannot run Lambdas), from the queue subscribed to the topic, as `make run` does.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from dependency_injector import providers

from billing.adapters.aws.sqs_queue import ORIGINAL_MESSAGE_ID, REJECTED_REASON
from billing.adapters.sql.tables import users
from billing.domain.model.due_bills import DueBillsRequest, read_queued_work
from billing.entrypoints.http.app import create_app
from billing.entrypoints.local_lambda import sns_event
from tests.conftest import PASSWORD, basic
from tests.fakes import FakeClock, FakeMetrics
from tests.integration.conftest import wipe
from tests.integration.pipeline import Pipeline

BILL = {"vendor": "Northwind <Power>", "bill_date": "2026-01-01", "amount_due": 120.5, "payment_status": "due"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def pipeline(mysql_url, aws_endpoint, clock, tmp_path):
    pipeline = Pipeline(mysql_url, aws_endpoint, clock, tmp_path / "outbox")
    await pipeline.start()
    yield pipeline
    await pipeline.stop()


@pytest.fixture
async def user(aiohttp_client, pipeline):
    """A registered user with two due bills, one paid and one due too late, and an HTTP client."""
    client = await aiohttp_client(create_app(pipeline.container))
    email = f"due-{uuid.uuid4().hex[:8]}@example.com"
    body = {"first_name": "Dee", "last_name": "User", "email_address": email, "password": PASSWORD}
    assert (await client.post("/v1/user", json=body)).status == 201
    today = pipeline.clock.now().date()
    for days, status in ((2, "due"), (-3, "past_due"), (1, "paid"), (30, "due")):
        due = today.fromordinal(today.toordinal() + days).isoformat()
        bill = BILL | {"bill_date": "2020-01-01", "due_date": due, "payment_status": status}
        assert (await client.post("/v1/bill", json=bill, headers=basic(email))).status == 201
    return client, email


async def request_email(client, email: str, days: int = 7) -> None:  # type: ignore[no-untyped-def]
    response = await client.get(f"/v1/bills/due/{days}", headers=basic(email))
    assert response.status == 202
    assert await response.json() == {"message": (await response.json())["message"], "days": days}


async def test_email_lists_the_due_bills_with_links(pipeline, user) -> None:
    client, email = user
    await request_email(client, email, days=7)
    await pipeline.run_worker()
    assert await pipeline.deliver_to_lambda() == ["sent"]
    [sent] = await pipeline.emails_to(email)
    assert "7 days" in sent["subject"] and "2 bills" in sent["subject"]
    assert sent["html"].count("Northwind &lt;Power&gt;") == 2  # escaped; the paid and the too-late one left out
    assert sent["text"].count("Northwind <Power>: 120.50 USD, due ") == 2
    assert sent["text"].count("https://billing.test/v1/bill/") == 2


async def test_a_repeated_request_sends_one_email(pipeline, user) -> None:
    client, email = user
    for _ in range(3):
        await request_email(client, email)
    await pipeline.run_worker()
    assert sorted(await pipeline.deliver_to_lambda()) == ["deduplicated", "deduplicated", "sent"]
    await request_email(client, email)  # after the send: the worker itself skips it
    await pipeline.run_worker()
    assert await pipeline.deliver_to_lambda() == []
    assert len(await pipeline.emails_to(email)) == 1


async def test_a_duplicated_sqs_message_sends_one_email(pipeline, user) -> None:
    client, email = user
    me = await (await client.get("/v1/user/self", headers=basic(email))).json()
    request = DueBillsRequest(uuid.uuid4(), uuid.UUID(me["id"]), 7, pipeline.clock.now())
    sqs = pipeline.container.aws_clients()["sqs"]
    url = await pipeline.container.due_queue().url()
    for _ in range(2):  # at-least-once delivery: the very same message twice
        await sqs.send_message(QueueUrl=url, MessageBody=request.to_json())
    await pipeline.run_worker()
    await pipeline.deliver_to_lambda()
    assert len(await pipeline.emails_to(email)) == 1


async def test_a_duplicated_sns_delivery_sends_one_email(pipeline, user) -> None:
    client, email = user
    await request_email(client, email)
    await pipeline.run_worker()
    queue = pipeline.container.standin_queue()
    [message] = await queue.receive(10, 2)
    event = sns_event(json.loads(message.body))
    first = await asyncio.to_thread(pipeline.runtime.invoke, event)
    again = await asyncio.to_thread(pipeline.runtime.invoke, event)
    assert (first["outcomes"], again["outcomes"]) == (["sent"], ["deduplicated"])
    assert len(await pipeline.emails_to(email)) == 1


async def test_worker_killed_between_publish_and_delete_sends_one_email(pipeline, user) -> None:
    client, email = user
    await request_email(client, email)
    queue = pipeline.container.due_queue()
    [message] = await queue.receive(1, 2)
    # The worker's work up to the crash: the digest is published, the message is never deleted...
    await pipeline.container.prepare_due_bills_digest().execute(read_queued_work(message.body))
    await queue.hide(message, 0)  # ...and SQS redelivers it once the visibility timeout passes.
    await pipeline.run_worker()
    outcomes = await pipeline.deliver_to_lambda()
    assert outcomes.count("sent") == 1
    assert len(await pipeline.emails_to(email)) == 1
    assert await pipeline.queue_depth(queue) == 0


async def test_a_second_email_once_the_window_has_passed(pipeline, user) -> None:
    client, email = user
    await request_email(client, email)
    await pipeline.run_worker()
    await pipeline.deliver_to_lambda()
    pipeline.clock.advance(minutes=59)
    await request_email(client, email)
    await pipeline.run_worker()
    await pipeline.deliver_to_lambda()
    assert len(await pipeline.emails_to(email)) == 1
    pipeline.clock.advance(minutes=2)  # 61 minutes after the first send; DynamoDB has not expired the item
    await request_email(client, email)
    await pipeline.run_worker()
    assert await pipeline.deliver_to_lambda() == ["sent"]
    assert len(await pipeline.emails_to(email)) == 2


async def dead_letters(pipeline: Pipeline) -> list[dict]:  # type: ignore[type-arg]
    """Take every message out of the due-bills queue's dead-letter queue."""
    sqs = pipeline.container.aws_clients()["sqs"]
    dlq = (await sqs.get_queue_url(QueueName=f"{pipeline.settings.due_queue_name}-dlq"))["QueueUrl"]
    taken = []
    while messages := (await sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                                 MessageAttributeNames=["All"])).get("Messages"):
        taken += messages
        for m in messages:
            await sqs.delete_message(QueueUrl=dlq, ReceiptHandle=m["ReceiptHandle"])
    return taken


async def test_poison_message_lands_in_the_dlq_without_blocking_others(pipeline, user) -> None:
    client, email = user
    sqs = pipeline.container.aws_clients()["sqs"]
    url = await pipeline.container.due_queue().url()
    await sqs.send_message(QueueUrl=url, MessageBody='{"type": "due_bills_request", "version": 99}')
    await sqs.send_message(QueueUrl=url, MessageBody="not json at all")
    await request_email(client, email)
    await pipeline.run_worker()
    assert await pipeline.deliver_to_lambda() == ["sent"]
    assert {m["Body"] for m in await dead_letters(pipeline)} == {
        '{"type": "due_bills_request", "version": 99}', "not json at all"}


async def test_unknown_type_or_version_goes_to_the_dlq_at_once_and_is_counted(mysql_url, aws_endpoint, clock,
                                                                               tmp_path) -> None:
    # Five receives before SQS's own redrive: the worker must not wait for them.
    pipeline = Pipeline(mysql_url, aws_endpoint, clock, tmp_path / "outbox", queue_max_receives=5,
                        worker_retry_delay_seconds=30)
    metrics = FakeMetrics()
    pipeline.container.metrics.override(providers.Object(metrics))
    await pipeline.start()
    try:
        sqs = pipeline.container.aws_clients()["sqs"]
        url = await pipeline.container.due_queue().url()
        reminder = json.dumps({"type": "due_bills_reminder", "version": 1, "user_id": str(uuid.uuid4()),
                               "date": "2026-11-24"})
        future = json.dumps(json.loads(DueBillsRequest(uuid.uuid4(), uuid.uuid4(), 7, clock.now()).to_json())
                            | {"version": 3})
        sent = {}
        for body in (reminder, future, "{"):
            sent[(await sqs.send_message(QueueUrl=url, MessageBody=body))["MessageId"]] = body
        await pipeline.run_worker(timeout=10)  # a 30 s retry delay: only a move at once drains it in time
        moved = await dead_letters(pipeline)
        assert {m["Body"] for m in moved} == set(sent.values())
        reasons = {m["MessageAttributes"][REJECTED_REASON]["StringValue"]: m["Body"] for m in moved}
        assert reasons == {"unknown_type": reminder, "unknown_version": future, "malformed": "{"}
        assert {m["MessageAttributes"][ORIGINAL_MESSAGE_ID]["StringValue"]: m["Body"] for m in moved} == sent
        for reason in ("unknown_type", "unknown_version", "malformed"):
            assert metrics.count("worker.messages.rejected", reason=reason) == 1
        assert metrics.count("worker.messages.received") == 3  # each was received once, never retried
        assert metrics.count("worker.messages.dead_lettered") == 3 and metrics.count("worker.messages.failed") == 0
    finally:
        await pipeline.stop()


async def test_a_forged_request_naming_another_address_mails_the_stored_address_only(pipeline, user) -> None:
    client, email = user
    me = await (await client.get("/v1/user/self", headers=basic(email))).json()
    sqs = pipeline.container.aws_clients()["sqs"]
    url = await pipeline.container.due_queue().url()
    for version in (1, 2):  # version 1 carried an address; it is read, the address ignored
        forged = {"type": "due_bills_request", "version": version, "request_id": str(uuid.uuid4()),
                  "user_id": me["id"], "email": "attacker@evil.example", "days": 30,
                  "requested_at": "2026-11-24T09:00:00.000Z"}
        await sqs.send_message(QueueUrl=url, MessageBody=json.dumps(forged))
    await pipeline.run_worker()
    assert sorted(await pipeline.deliver_to_lambda()) == ["deduplicated", "sent"]
    assert await pipeline.emails_to("attacker@evil.example") == []
    [sent] = await pipeline.emails_to(email)  # emails_to also checks SES sent nothing else
    assert "3 bills" in sent["subject"]


async def test_a_deleted_users_request_is_acknowledged_and_sends_nothing(pipeline, user) -> None:
    client, email = user
    await request_email(client, email)
    async with pipeline.container.engine().begin() as conn:  # the account is gone before the worker runs
        await conn.execute(sa.delete(users).where(users.c.email_address == email))
    await pipeline.run_worker()  # it returns once the queue is empty: the message was deleted
    assert await pipeline.deliver_to_lambda() == []
    assert await dead_letters(pipeline) == []
    assert await pipeline.emails_to(email) == []


async def test_no_due_bills_still_sends_an_email_that_says_so(pipeline, user) -> None:
    client, email = user
    await request_email(client, email, days=0)  # today: only the past-due one... which is due
    await pipeline.run_worker()
    await pipeline.deliver_to_lambda()
    other = f"nobills-{uuid.uuid4().hex[:8]}@example.com"
    body = {"first_name": "No", "last_name": "Bills", "email_address": other, "password": PASSWORD}
    assert (await client.post("/v1/user", json=body)).status == 201
    await request_email(client, other, days=30)
    await pipeline.run_worker()
    await pipeline.deliver_to_lambda()
    [sent] = await pipeline.emails_to(other)
    assert "0 bills" in sent["subject"] and "No bills are due" in sent["text"] and "No bills are due" in sent["html"]


async def test_ses_failure_leaves_the_ledger_free_so_a_retry_sends(pipeline, user) -> None:
    client, email = user
    await request_email(client, email)
    await pipeline.run_worker()
    [message] = await pipeline.container.standin_queue().receive(10, 2)
    event = sns_event(json.loads(message.body))
    ses = pipeline.container.aws_clients()["ses"]
    await ses.delete_identity(Identity=pipeline.settings.mail_sender)  # SES now rejects the sender
    with pytest.raises(Exception, match=r"not verified|MessageRejected"):
        await asyncio.to_thread(pipeline.runtime.invoke, event)
    me = await (await client.get("/v1/user/self", headers=basic(email))).json()
    dynamodb = pipeline.container.aws_clients()["dynamodb"]
    entry = await dynamodb.get_item(TableName=pipeline.settings.ledger_table, Key={"user_id": {"S": me["id"]}})
    assert "Item" not in entry  # the claim was released
    await ses.verify_email_identity(EmailAddress=pipeline.settings.mail_sender)
    assert (await asyncio.to_thread(pipeline.runtime.invoke, event))["outcomes"] == ["sent"]  # Lambda's retry
    assert len(await pipeline.emails_to(email)) == 1


async def test_ledger_entry_expires_in_epoch_seconds_an_hour_later(pipeline, user) -> None:
    client, email = user
    await request_email(client, email)
    await pipeline.run_worker()
    await pipeline.deliver_to_lambda()
    me = await (await client.get("/v1/user/self", headers=basic(email))).json()
    dynamodb = pipeline.container.aws_clients()["dynamodb"]
    item = (await dynamodb.get_item(TableName=pipeline.settings.ledger_table, Key={"user_id": {"S": me["id"]}}))["Item"]
    assert int(item["expires_at"]["N"]) == int(pipeline.clock.now().timestamp()) + 3600
    ttl = await dynamodb.describe_time_to_live(TableName=pipeline.settings.ledger_table)
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"


async def test_unreachable_queue_is_503_never_202(aiohttp_client, mysql_url, clock, tmp_path) -> None:
    pipeline = Pipeline(mysql_url, "http://127.0.0.1:1", clock, tmp_path)
    await wipe(pipeline.container.engine())
    client = await aiohttp_client(create_app(pipeline.container))
    body = {"first_name": "Q", "last_name": "Down", "email_address": "q@example.com", "password": PASSWORD}
    assert (await client.post("/v1/user", json=body)).status == 201
    response = await client.get("/v1/bills/due/7", headers=basic("q@example.com"))
    assert response.status == 503
    assert response.content_type == "application/problem+json"
    await pipeline.container.engine().dispose()


async def test_the_standin_queue_admits_deliveries_from_the_digest_topic_only(pipeline) -> None:
    sqs = pipeline.container.aws_clients()["sqs"]
    url = await pipeline.container.standin_queue().url()
    attributes = (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy", "QueueArn"]))["Attributes"]
    [statement] = json.loads(attributes["Policy"])["Statement"]
    topic_arn = await pipeline.container.digest_publisher().arn()
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"} and statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == attributes["QueueArn"]
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": topic_arn}}
