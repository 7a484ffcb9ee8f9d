"""aioboto3 adapters: S3 file store (and, with the email pipeline, SQS, SNS, DynamoDB, SES)."""
