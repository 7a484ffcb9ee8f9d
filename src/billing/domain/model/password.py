"""The password policy the original webapp enforced, minus its silent truncation.

The character classes are ASCII ranges (a non-ASCII letter counts as "another character"), so the
rules mean the same in every regular-expression dialect: the OpenAPI document states them as
PATTERN, which Python's `re` and ECMA-262 read alike.
"""

from __future__ import annotations

import re

MIN_LENGTH = 8
MAX_LENGTH = 128
MAX_BYTES = 72  # bcrypt's input limit: longer secrets are refused, never truncated

LOWER = "a-z"
UPPER = "A-Z"
DIGIT = "0-9"
_ANY = r"[\s\S]"  # any character, line breaks included, in both dialects (unlike ".")
_HAS_LOWER = re.compile(f"[{LOWER}]")
_HAS_UPPER = re.compile(f"[{UPPER}]")
_HAS_DIGIT = re.compile(f"[{DIGIT}]")
_HAS_OTHER = re.compile(f"[^{LOWER}{UPPER}{DIGIT}]")
_THREE_IN_A_ROW = re.compile(rf"({_ANY})\1\1")

# The character rules as one regular expression (searched, as JSON Schema's `pattern` is); the
# lengths are separate keywords (minLength/maxLength) and the byte limit is prose.
PATTERN = (
    f"^(?={_ANY}*[{LOWER}])(?={_ANY}*[{UPPER}])(?={_ANY}*[{DIGIT}])(?={_ANY}*[^{LOWER}{UPPER}{DIGIT}])"
    rf"(?!{_ANY}*({_ANY})\1\1)"
)


def password_problem(value: object) -> str | None:
    """Return why `value` is not an acceptable password, or None when it is."""
    if not isinstance(value, str):
        return "must be a string"
    if not MIN_LENGTH <= len(value) <= MAX_LENGTH:
        return f"must be {MIN_LENGTH} to {MAX_LENGTH} characters long"
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate, which JSON's \u escapes can carry
        return "must be valid Unicode text"
    if size > MAX_BYTES:
        return f"must be at most {MAX_BYTES} bytes in UTF-8"
    if not _HAS_LOWER.search(value):
        return "must contain a lower-case letter (a-z)"
    if not _HAS_UPPER.search(value):
        return "must contain an upper-case letter (A-Z)"
    if not _HAS_DIGIT.search(value):
        return "must contain a digit (0-9)"
    if not _HAS_OTHER.search(value):
        return "must contain a character that is not a letter or digit (anything but a-z, A-Z, 0-9)"
    if _THREE_IN_A_ROW.search(value):
        return "must not repeat a character three times in a row"
    return None
