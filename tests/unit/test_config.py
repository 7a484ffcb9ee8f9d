from __future__ import annotations

import pytest

from billing.config import ConfigError, Settings


def test_defaults_when_nothing_is_set() -> None:
    settings = Settings.from_env({})
    assert (settings.http_host, settings.http_port) == ("127.0.0.1", 8080)
    assert settings.database_url == "sqlite+aiosqlite:///./var/billing.db"
    assert settings.base_url == "http://127.0.0.1:8080"


def test_values_read_from_billing_variables_only() -> None:
    settings = Settings.from_env({"BILLING_HTTP_PORT": "9000", "HTTP_PORT": "1", "BILLING_LOG_LEVEL": "debug",
                                  "BILLING_PUBLIC_BASE_URL": "https://bills.example.com/"})
    assert settings.http_port == 9000 and settings.log_level == "DEBUG"
    assert settings.base_url == "https://bills.example.com"


@pytest.mark.parametrize(("name", "value"), [("BILLING_HTTP_PORT", "70000"), ("BILLING_HTTP_PORT", "x"),
                                             ("BILLING_DATABASE_URL", "postgres://x"), ("BILLING_LOG_LEVEL", "LOUD"),
                                             ("BILLING_PUBLIC_BASE_URL", "bills.example.com"),
                                             ("BILLING_DATABASE_SSL_CA", "/nonexistent/ca.pem"),
                                             ("BILLING_LOGIN_WINDOW_SECONDS", "0"),
                                             ("BILLING_REGISTRATION_WINDOW_SECONDS", "86401"),
                                             ("BILLING_LOGIN_FAILURES_PER_PAIR", "0"),
                                             ("BILLING_REGISTRATIONS_PER_ADDRESS", "-1")])
def test_bad_value_named_in_one_line(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as exc:
        Settings.from_env({name: value})
    assert str(exc.value).startswith(f"{name}=") and "\n" not in str(exc.value)


def test_a_short_idempotency_secret_is_refused_without_showing_it() -> None:
    with pytest.raises(ConfigError) as exc:
        Settings.from_env({"BILLING_IDEMPOTENCY_SECRET": "tooshort-but-private"})
    assert str(exc.value).startswith("BILLING_IDEMPOTENCY_SECRET") and "tooshort-but-private" not in str(exc.value)


def test_the_idempotency_secret_is_read_and_never_in_the_settings_repr() -> None:
    secret = "k" * 40
    settings = Settings.from_env({"BILLING_IDEMPOTENCY_SECRET": secret})
    assert settings.idempotency_secret == secret and secret not in repr(settings)


def test_throttling_settings_reach_the_rules() -> None:
    from datetime import timedelta

    from billing.container import Container

    settings = Settings.from_env({"BILLING_LOGIN_WINDOW_SECONDS": "60", "BILLING_LOGIN_FAILURES_PER_PAIR": "2",
                                  "BILLING_LOGIN_FAILURES_PER_ADDRESS": "7", "BILLING_LOGIN_FAILURES_PER_ACCOUNT": "4",
                                  "BILLING_REGISTRATIONS_PER_ADDRESS": "3", "BILLING_REGISTRATION_WINDOW_SECONDS": "120"})
    container = Container(settings=settings)
    sign_in, registration = container.sign_in_rules(), container.registration_rules()
    assert (sign_in.window, sign_in.per_pair, sign_in.per_address, sign_in.per_account) == (timedelta(seconds=60), 2, 7, 4)
    assert (registration.window, registration.per_address) == (timedelta(seconds=120), 3)
