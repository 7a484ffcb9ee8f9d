"""Email addresses: syntax, length, and the lower-case canonical form used for uniqueness."""

from __future__ import annotations

import re

MAX_LENGTH = 254
# A pragmatic subset of RFC 5322's dot-atom: what mail providers accept in practice. Written here
# rather than with email-validator: the domain imports the standard library only.
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"(?P<local>{_LOCAL})@(?P<domain>{_LABEL}(?:\.{_LABEL})+)", re.ASCII)


class EmailError(ValueError):
    pass


def normalize_email(value: object) -> str:
    """Return the canonical (lower-case) address, or raise EmailError saying why it is not one."""
    if not isinstance(value, str):
        raise EmailError("must be a string")
    if len(value) > MAX_LENGTH:
        raise EmailError(f"must be at most {MAX_LENGTH} characters")
    match = _ADDRESS.fullmatch(value)
    if match is None or len(match["local"]) > 64:
        raise EmailError("must be a valid email address")
    return value.lower()
