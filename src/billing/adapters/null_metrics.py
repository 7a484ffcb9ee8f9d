from __future__ import annotations

from billing.ports.metrics import Tags


class NullMetrics:
    """The Metrics port when no statsd agent is configured: metrics are off, cleanly."""

    def increment(self, name: str, value: int = 1, tags: Tags | None = None) -> None:
        return None

    def timing(self, name: str, milliseconds: float, tags: Tags | None = None) -> None:
        return None
