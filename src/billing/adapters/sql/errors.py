"""Turn driver failures into the domain's ServiceUnavailable, in one place."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from billing.domain.model import ServiceUnavailable


@contextmanager
def database_errors() -> Iterator[None]:
    try:
        yield
    except (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError, OSError, TimeoutError) as exc:
        raise ServiceUnavailable("the database cannot be reached") from exc
