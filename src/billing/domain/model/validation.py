"""Collect every field error of an input before refusing it, so a client can fix all at once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from billing.domain.model.errors import FieldError, ValidationFailed

T = TypeVar("T")


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()
"""A field the client did not send (distinct from an explicit JSON null)."""


class FieldErrors:
    """Run per-field parsers, gathering their ValueErrors as FieldErrors."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def parse(self, field: str, value: object, parser: Callable[[object], T]) -> T:
        """`parser(value)` for a field the client must send: UNSET and "is required" when it did not."""
        # Stands in for a refused field; raise_if_any() runs before anyone reads it (so no test can
        # tell another placeholder from it).
        missing: T = UNSET  # pragma: no mutate
        if value is UNSET:
            self.errors.append(FieldError(field, "is required"))
            return missing
        return self.parse_optional(field, value, parser)

    def parse_optional(self, field: str, value: object, parser: Callable[[object], T]) -> T:
        """`parser(value)`, or UNSET when the client did not send the field; UNSET and the
        parser's message when it refuses the value."""
        missing: T = UNSET  # as in parse()
        if value is UNSET:
            return missing
        try:
            return parser(value)
        except ValueError as exc:
            self.errors.append(FieldError(field, str(exc)))
            return missing

    def add(self, field: str, message: str) -> None:
        self.errors.append(FieldError(field, message))

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationFailed(self.errors)


def get(data: Mapping[str, object], field: str) -> object:
    return data.get(field, UNSET)


def text(max_length: int) -> Callable[[object], str]:
    """A parser for a non-blank string of at most `max_length` characters (kept as sent)."""

    def parse(value: object) -> str:
        if not isinstance(value, str):
            raise ValueError("must be a string")
        if not value.strip():
            raise ValueError("must not be blank")
        if len(value) > max_length:
            raise ValueError(f"must be at most {max_length} characters")
        return value

    return parse
