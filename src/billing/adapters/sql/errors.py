"""Turn driver failures into the domain's ServiceUnavailable (or ServiceBusy), in one place."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from billing.domain.model import ServiceBusy, ServiceUnavailable

UNREACHABLE = "the database cannot be reached"
BUSY = "every pooled database connection is in use; none came free in time"


@contextmanager
def database_errors() -> Iterator[None]:
    try:
        yield
    except sa.exc.TimeoutError as exc:  # the pool's own wait for a connection ran out
        raise ServiceBusy(BUSY) from exc
    except (sa.exc.OperationalError, sa.exc.InterfaceError, OSError, TimeoutError) as exc:
        raise ServiceUnavailable(UNREACHABLE) from exc


@contextmanager
def unusable_database(url: str) -> Iterator[None]:
    """For the commands (`billing migrate`, the start-up check of the others): a database that
    cannot be reached, refuses the credentials or the TLS handshake, or refuses a statement becomes
    ServiceUnavailable whose one-line message names the database (password hidden) and the
    driver's own reason, for the operator who has to fix it."""
    try:
        yield
    except (sa.exc.DBAPIError, OSError, TimeoutError) as exc:
        where = make_url(url).render_as_string(hide_password=True)
        raise ServiceUnavailable(f"the database {where} cannot be used: {failure_reason(exc)}") from exc


def failure_reason(exc: BaseException) -> str:
    """The driver's error code and message, then what caused it (refused connection, certificate
    that does not verify...), on one line. Never the statement or its parameters."""
    original = exc.orig if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None else exc
    args: tuple[object, ...] = tuple(getattr(original, "args", ()))
    if len(args) == 2 and isinstance(args[0], int):  # PyMySQL/aiomysql: (code, message)
        reason = f"({args[0]}) {args[1]}"
    else:
        reason = str(original) or original.__class__.__name__
    cause = original.__cause__
    if cause is not None and str(cause) and str(cause) not in reason:
        reason += f" ({cause})"
    return " ".join(reason.split())
