"""The password policy the original webapp enforced, minus its silent truncation."""

from __future__ import annotations

MIN_LENGTH = 8
MAX_LENGTH = 128
MAX_BYTES = 72  # bcrypt's input limit: longer secrets are refused, never truncated


def password_problem(value: object) -> str | None:
    """Return why `value` is not an acceptable password, or None when it is."""
    if not isinstance(value, str):
        return "must be a string"
    if not MIN_LENGTH <= len(value) <= MAX_LENGTH:
        return f"must be {MIN_LENGTH} to {MAX_LENGTH} characters long"
    if len(value.encode("utf-8")) > MAX_BYTES:
        return f"must be at most {MAX_BYTES} bytes in UTF-8"
    if not any(c.islower() for c in value):
        return "must contain a lower-case letter"
    if not any(c.isupper() for c in value):
        return "must contain an upper-case letter"
    if not any(c.isdigit() for c in value):
        return "must contain a digit"
    if all(c.isalnum() for c in value):
        return "must contain a character that is not a letter or digit"
    if any(value[i] == value[i + 1] == value[i + 2] for i in range(len(value) - 2)):
        return "must not repeat a character three times in a row"
    return None
