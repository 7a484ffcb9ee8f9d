"""Turn AWS transport failures into the domain's ServiceUnavailable, in one place."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from billing.adapters.metrics.timing import timed
from billing.domain.model import ServiceUnavailable
from billing.ports.metrics import AWS_DURATION, Metrics


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextmanager
def aws_errors(service: str) -> Iterator[None]:
    """Connection failures, timeouts and AWS-side 5xx/throttling become ServiceUnavailable;
    other client errors (a programming or configuration mistake) propagate unchanged."""
    try:
        yield
    except BotoCoreError as exc:  # endpoint unreachable, timeouts, credential lookup failures
        raise ServiceUnavailable(f"{service} cannot be reached") from exc
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if status >= 500 or error_code(exc) in ("Throttling", "ThrottlingException", "SlowDown", "RequestTimeout"):
            raise ServiceUnavailable(f"{service} is unavailable") from exc
        raise
    except (OSError, TimeoutError) as exc:
        raise ServiceUnavailable(f"{service} cannot be reached") from exc


@contextmanager
def aws_call(metrics: Metrics, service: str, operation: str) -> Iterator[None]:
    """One AWS call: timed (aws.duration{service, operation, outcome}) and its transport failures
    turned into ServiceUnavailable."""
    with timed(metrics, AWS_DURATION, service=service.lower(), operation=operation), aws_errors(service):
        yield
