"""Create, idempotently, the AWS resources the service needs (locally: in the emulator).

In AWS proper, deploy/cloudformation creates the same resources with the same settings.
"""

from __future__ import annotations

import logging

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
        ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
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
