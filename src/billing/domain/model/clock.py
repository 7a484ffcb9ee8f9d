"""Time helpers shared by the model. The current time always comes from the Clock port."""

from __future__ import annotations

from datetime import UTC, datetime


def to_millis(moment: datetime) -> datetime:
    """Truncate to the millisecond, the precision the API and the database keep."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: the domain works in aware UTC only")
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond - moment.microsecond % 1000)
