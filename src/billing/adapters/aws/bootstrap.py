"""Create, idempotently, the AWS resources the service needs (locally: in the emulator).

In AWS proper, deploy/cloudformation creates the same resources with the same settings.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from botocore.exceptions import ClientError

from billing.adapters.aws.clients import AwsClients
from billing.adapters.aws.errors import error_code

log = logging.getLogger("billing.bootstrap")
EXPIRE_AFTER_DAYS = 30


async def ensure_bucket(clients: AwsClients, bucket: str, region: str) -> None:
    """The attachments bucket: 30-day expiration, default encryption, public access blocked."""
    s3 = clients["s3"]
    create = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    try:
        await s3.create_bucket(Bucket=bucket, **create)
        log.info("created bucket %s", bucket)
    except ClientError as exc:
        if error_code(exc) != "BucketAlreadyOwnedByYou":
            raise
    await s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    # Whatever a crash orphans (an object without its row) disappears on its own.
                    "ID": "expire-objects",
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "Expiration": {"Days": EXPIRE_AFTER_DAYS},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                }
            ]
        },
    )
    await s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    await s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )


async def ensure_queue(clients: AwsClients, name: str, max_receives: int, visibility_seconds: int = 60) -> str:
    """A queue with its dead-letter queue (`<name>-dlq`, kept 14 days) and a redrive policy that
    moves a message there after `max_receives` failed deliveries. Returns the queue URL."""
    sqs = clients["sqs"]
    dlq_url = (await sqs.create_queue(QueueName=f"{name}-dlq", Attributes={"MessageRetentionPeriod": "1209600"}))[
        "QueueUrl"
    ]
    dlq_arn = (await sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"]))["Attributes"]["QueueArn"]
    attributes = {
        "VisibilityTimeout": str(visibility_seconds),
        "ReceiveMessageWaitTimeSeconds": "20",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receives)}),
    }
    try:
        url = (await sqs.create_queue(QueueName=name, Attributes=attributes))["QueueUrl"]
    except ClientError as exc:  # exists with other attributes: bring them in line
        if error_code(exc) not in ("QueueAlreadyExists", "QueueNameExists"):
            raise
        url = (await sqs.get_queue_url(QueueName=name))["QueueUrl"]
        await sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    return str(url)


async def ensure_topic(clients: AwsClients, name: str) -> str:
    """The digest topic (CreateTopic is idempotent). Returns its ARN."""
    return str((await clients["sns"].create_topic(Name=name))["TopicArn"])


def sns_delivery_policy(queue_arn: str, topic_arn: str) -> dict[str, Any]:
    """The queue policy that lets SNS deliver into the queue from one topic only: AWS checks
    the topic a delivery comes from against aws:SourceArn."""
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DeliveriesFromTheTopicOnly",
            "Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
        }],
    }


async def subscribe_queue(clients: AwsClients, topic_arn: str, queue_url: str) -> None:
    """Deliver the topic's messages (SNS envelope, not raw) into a queue: the local stand-in for
    the Lambda subscription, which the emulator cannot run. The queue's policy admits the topic
    alone, as AWS requires of an SQS subscription."""
    sqs, sns = clients["sqs"], clients["sns"]
    queue_arn = (await sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"]))["Attributes"][
        "QueueArn"
    ]
    await sqs.set_queue_attributes(QueueUrl=queue_url,
                                   Attributes={"Policy": json.dumps(sns_delivery_policy(queue_arn, topic_arn))})
    subscriptions = (await sns.list_subscriptions_by_topic(TopicArn=topic_arn)).get("Subscriptions", [])
    if not any(s["Endpoint"] == queue_arn for s in subscriptions):
        await sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)


async def ensure_ledger_table(clients: AwsClients, table: str) -> None:
    """The email ledger: key user_id, on-demand, TTL on expires_at (epoch seconds)."""
    dynamodb = clients["dynamodb"]
    try:
        await dynamodb.create_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": "user_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "user_id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        await dynamodb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    except ClientError as exc:
        if error_code(exc) != "ResourceInUseException":
            raise
    ttl = await dynamodb.describe_time_to_live(TableName=table)
    if ttl["TimeToLiveDescription"].get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        await dynamodb.update_time_to_live(TableName=table,
                                           TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})


async def ensure_sender(clients: AwsClients, sender: str) -> None:
    """SES refuses to send from an unverified address; the emulator verifies at once."""
    await clients["ses"].verify_email_identity(EmailAddress=sender)
