"""The Lambda's metrics: CloudWatch Embedded Metric Format lines on stdout (no statsd agent there)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import AsyncIterator
from datetime import date
from typing import Any
from uuid import uuid4

import pytest
from dependency_injector import providers

from billing.adapters.metrics.emf import EmfMetrics
from billing.adapters.metrics.timing import timed
from billing.adapters.null_metrics import NullMetrics
from billing.config import Settings
from billing.domain.model.due_bills import DueBillsDigest
from billing.entrypoints.lambda_handler import LambdaRuntime
from billing.lambda_container import EmailContainer, lambda_metrics
from billing.ports.metrics import AWS_DURATION, LAMBDA_EMAILS_DEDUPLICATED, LAMBDA_EMAILS_SENT
from tests.fakes import FakeClock, FakeEmailLedger, FakeMailer

# The units CloudWatch accepts (PutMetricData's StandardUnit); EMF rejects a line with another.
UNITS = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
    "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
    "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
    "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
}
UUID_OR_EMAIL = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-|@")


def parse_emf(line: str) -> list[tuple[str, str, float, dict[str, str]]]:
    """Check one line against the EMF specification (what CloudWatch Logs requires to extract
    metrics) and return its metrics as (namespace, name, value, dimensions)."""
    document = json.loads(line)
    assert isinstance(document, dict)
    metadata = document["_aws"]
    timestamp = metadata["Timestamp"]
    assert isinstance(timestamp, int) and timestamp > 1_600_000_000_000  # epoch milliseconds
    directives = metadata["CloudWatchMetrics"]
    assert isinstance(directives, list) and directives
    found = []
    for directive in directives:
        namespace = directive["Namespace"]
        assert isinstance(namespace, str) and 1 <= len(namespace) <= 255
        dimension_sets = directive["Dimensions"]
        assert isinstance(dimension_sets, list)
        for dimension_set in dimension_sets:
            assert isinstance(dimension_set, list) and len(dimension_set) <= 30
            for name in dimension_set:
                # a dimension is a root member holding a non-empty string
                assert isinstance(document[name], str) and document[name], name
        metrics = directive["Metrics"]
        assert isinstance(metrics, list) and 1 <= len(metrics) <= 100
        for metric in metrics:
            assert metric["Unit"] in UNITS
            value = document[metric["Name"]]
            assert isinstance(value, int | float) and not isinstance(value, bool)
            for dimension_set in dimension_sets:
                found.append((namespace, metric["Name"], value, {name: document[name] for name in dimension_set}))
    return found


def emitted(stream: io.StringIO) -> list[tuple[str, str, float, dict[str, str]]]:
    return [metric for line in stream.getvalue().splitlines() for metric in parse_emf(line)]


def test_counter_is_one_emf_line_with_the_function_as_dimension() -> None:
    stream = io.StringIO()
    metrics = EmfMetrics(dimensions={"FunctionName": "billing-prod-digest-mailer"}, stream=stream,
                         clock=lambda: 1_767_225_600.25)
    metrics.increment(LAMBDA_EMAILS_SENT)
    (line,) = stream.getvalue().splitlines()
    assert json.loads(line)["_aws"]["Timestamp"] == 1_767_225_600_250
    assert json.loads(line)["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "billing.lambda.emails.sent",
                                                                             "Unit": "Count"}]
    assert emitted(stream) == [("Billing", "billing.lambda.emails.sent", 1,
                                {"FunctionName": "billing-prod-digest-mailer"})]


def test_timer_tags_become_dimensions_in_milliseconds() -> None:
    stream = io.StringIO()
    metrics = EmfMetrics(namespace="Billing", prefix="billing", dimensions={"FunctionName": "f"}, stream=stream)
    with timed(metrics, AWS_DURATION, service="ses", operation="send_email"):
        pass
    metrics.timing("x", -3.0)  # a clock step backwards is clamped, never a negative value
    ((namespace, name, value, dimensions), (_, _, clamped, _)) = emitted(stream)
    assert (namespace, name) == ("Billing", "billing.aws.duration")
    assert dimensions == {"FunctionName": "f", "service": "ses", "operation": "send_email", "outcome": "ok"}
    assert 0 <= value < 1000 and clamped == 0
    assert json.loads(stream.getvalue().splitlines()[0])["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] \
        == "Milliseconds"


def test_lines_hold_only_the_metric_and_its_dimensions() -> None:
    stream = io.StringIO()
    EmfMetrics(dimensions={"FunctionName": "f"}, stream=stream).increment(
        "lambda.emails.sent", 2, {"_aws": "x", "k": ""}
    )
    document = json.loads(stream.getvalue())
    assert set(document) == {"_aws", "FunctionName", "k", "billing.lambda.emails.sent"}
    assert document["k"] == "_"  # CloudWatch refuses an empty dimension value
    assert document["billing.lambda.emails.sent"] == 2


def test_a_broken_stream_never_fails_the_caller() -> None:
    class Closed(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError("stdout is gone")

    metrics = EmfMetrics(stream=Closed())
    metrics.increment(LAMBDA_EMAILS_SENT)
    metrics.timing(AWS_DURATION, float("nan"), {"service": "ses"})


def test_metrics_are_emf_inside_lambda_and_off_elsewhere() -> None:
    settings = Settings()
    assert isinstance(lambda_metrics(settings, {}), NullMetrics)
    assert isinstance(lambda_metrics(settings, {"AWS_LAMBDA_FUNCTION_NAME": "billing-prod-digest-mailer"}), EmfMetrics)


def digest_json(user_id: Any, request_id: Any) -> str:
    return DueBillsDigest(request_id, user_id, "jane@example.com", 7, date(2026, 11, 24), ()).to_json()


async def no_clients() -> AsyncIterator[None]:
    """The runtime opens its container's async resources; over fakes there are no clients to open."""
    yield


def test_the_handler_counts_sent_and_deduplicated_emails_as_emf(capsys: pytest.CaptureFixture[str]) -> None:
    stream = io.StringIO()
    container = EmailContainer(settings=Settings())
    container.metrics.override(providers.Object(EmfMetrics(dimensions={"FunctionName": "mailer"}, stream=stream)))
    container.ledger.override(providers.Object(FakeEmailLedger()))
    container.mailer.override(providers.Object(FakeMailer()))
    container.clock.override(providers.Object(FakeClock()))
    container.aws_clients_lifetime.override(providers.Resource(no_clients))
    runtime = LambdaRuntime(container)
    try:
        user = uuid4()
        first = {"Records": [{"Sns": {"Message": digest_json(user, uuid4())}}]}
        again = {"Records": [{"Sns": {"Message": digest_json(user, uuid4())}}]}
        assert runtime.invoke(first) == {"outcomes": ["sent"]}
        assert runtime.invoke(again)["outcomes"] != ["sent"]
    finally:
        runtime.close()
    counted = [(name, value, dims) for _, name, value, dims in emitted(stream) if "emails" in name]
    assert counted == [("billing." + LAMBDA_EMAILS_SENT, 1, {"FunctionName": "mailer"}),
                       ("billing." + LAMBDA_EMAILS_DEDUPLICATED, 1, {"FunctionName": "mailer"})]
    assert not UUID_OR_EMAIL.search(stream.getvalue())
