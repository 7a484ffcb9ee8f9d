"""Each AWS client reads for longer than the waits it is used with (no network: creating an
aiobotocore client connects to nothing)."""

from __future__ import annotations

import pytest

from billing.adapters.aws.clients import (
    CONFIG,
    LONG_POLL_SECONDS,
    SQS_LONG_POLL,
    AwsClients,
)
from billing.config import ConfigError, Settings


def test_the_longest_configurable_poll_is_sqss_longest() -> None:
    assert Settings.from_env({"BILLING_WORKER_WAIT_SECONDS": str(LONG_POLL_SECONDS)}).worker_wait_seconds == 20
    with pytest.raises(ConfigError):
        Settings.from_env({"BILLING_WORKER_WAIT_SECONDS": str(LONG_POLL_SECONDS + 1)})


async def test_the_receive_client_reads_longer_than_the_longest_poll_and_the_others_stay_short() -> None:
    clients = AwsClients("us-east-1", "http://127.0.0.1:1", services=("sqs", SQS_LONG_POLL, "sns"))
    await clients.open()
    try:
        receive = clients[SQS_LONG_POLL].meta
        assert receive.service_model.service_name == "sqs"
        assert receive.config.read_timeout >= LONG_POLL_SECONDS + 5  # the poll, plus time for the answer to arrive
        # Everything else answers at once: a short read timeout keeps an outage a quick 503.
        for name in ("sqs", "sns"):
            assert clients[name].meta.config.read_timeout == CONFIG.read_timeout < LONG_POLL_SECONDS
        assert receive.config.connect_timeout == CONFIG.connect_timeout
    finally:
        await clients.close()
