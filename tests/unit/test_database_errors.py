"""How a database failure reads on the command line: the driver's code and reason and their cause,
on one line, the password never (adapters/sql/errors.py)."""

from __future__ import annotations

import ssl

import pymysql
import pytest
import sqlalchemy as sa

from billing.adapters.sql.errors import failure_reason, unusable_database
from billing.domain.model import ServiceUnavailable


def driver_error(code: int, message: str, cause: BaseException | None = None) -> sa.exc.OperationalError:
    original = pymysql.err.OperationalError(code, message)
    original.__cause__ = cause
    return sa.exc.OperationalError("SELECT :password", {"password": "Pa55w0rd"}, original, hide_parameters=True)


def test_reason_is_the_driver_code_message_and_cause_on_one_line() -> None:
    cause = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    reason = failure_reason(driver_error(2003, "Can't connect to MySQL server on 'db'\n(retry)", cause))
    assert reason == ("(2003) Can't connect to MySQL server on 'db' (retry) "
                      "([SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed)")


def test_unusable_database_names_it_with_the_password_hidden_and_never_the_statement() -> None:
    with pytest.raises(ServiceUnavailable) as exc, unusable_database("mysql+aiomysql://app:Pa55w0rd@db:3306/billing"):
        raise driver_error(1045, "Access denied for user 'app'@'10.0.0.1' (using password: YES)")
    message = str(exc.value)
    assert message == ("the database mysql+aiomysql://app:***@db:3306/billing cannot be used: "
                       "(1045) Access denied for user 'app'@'10.0.0.1' (using password: YES)")
    assert "Pa55w0rd" not in message and "SELECT" not in message


def test_a_timeout_is_unusable_too() -> None:
    with pytest.raises(ServiceUnavailable, match="cannot be used: TimeoutError"), \
            unusable_database("sqlite+aiosqlite:///./var/billing.db"):
        raise TimeoutError()
