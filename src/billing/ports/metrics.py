from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

Tags = Mapping[str, str]


class Metrics(Protocol):
    """Counters and timers for operations. Fire-and-forget: never raises, never blocks, never
    slows the caller when the agent is down. Names and tags carry no ids, emails or secrets."""

    def increment(self, name: str, value: int = 1, tags: Tags | None = None) -> None: ...

    def timing(self, name: str, milliseconds: float, tags: Tags | None = None) -> None: ...
