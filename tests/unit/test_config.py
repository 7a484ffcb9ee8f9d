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

    settings = Settings.from_env(
        {
            "BILLING_LOGIN_WINDOW_SECONDS": "60",
            "BILLING_LOGIN_FAILURES_PER_PAIR": "2",
            "BILLING_LOGIN_FAILURES_PER_ADDRESS": "7",
            "BILLING_LOGIN_FAILURES_PER_ACCOUNT": "4",
            "BILLING_REGISTRATIONS_PER_ADDRESS": "3",
            "BILLING_REGISTRATION_WINDOW_SECONDS": "120",
        }
    )
    container = Container(settings=settings)
    sign_in, registration = container.sign_in_rules(), container.registration_rules()
    assert (sign_in.window, sign_in.per_pair, sign_in.per_address, sign_in.per_account) == (
        timedelta(seconds=60),
        2,
        7,
        4,
    )
    assert (registration.window, registration.per_address) == (timedelta(seconds=120), 3)


SECRET = "S3cr%40t"  # as written in a URL; the password is "S3cr@t"


@pytest.mark.parametrize(("url", "reason"), [
    (f"mysql+aiomysql://app:{SECRET}@db:port/billing", "has a port that is not a number"),
    ("mysql+aiomysql://app:S3cr@t@db/billing", "needs a host name"),  # the '@' not written %40
    (f"mysql+aiomysql://app:{SECRET}@db", "needs a database name"),
    (f"mysql+aiomysql://app:{SECRET}@db:70000/billing", "has a port outside 1-65535"),
    (f"postgresql://app:{SECRET}@db/billing", "must start with"),
    (f"mysql+aiomysql//app:{SECRET}@db/billing", "must start with"),
])
def test_malformed_database_url_is_named_without_its_password_when(url: str, reason: str) -> None:
    with pytest.raises(ConfigError) as exc:
        Settings.from_env({"BILLING_DATABASE_URL": url})
    message = str(exc.value)
    assert message.startswith("BILLING_DATABASE_URL=") and reason in message
    assert "S3cr" not in message and "t@db" not in message


def test_password_is_hidden_when_the_url_can_be_read() -> None:
    with pytest.raises(ConfigError) as exc:
        Settings.from_env({"BILLING_DATABASE_URL": f"mysql+aiomysql://app:{SECRET}@db:3306"})
    assert str(exc.value).startswith("BILLING_DATABASE_URL=mysql+aiomysql://app:***@db:3306: ")


MASTER = "mysql+aiomysql://admin:M4ster@db:3306/billing"


def test_app_url_names_the_user_serve_and_worker_connect_as() -> None:
    settings = Settings.from_env({"BILLING_DATABASE_URL": MASTER,
                                  "BILLING_DATABASE_APP_URL": "mysql+aiomysql://billing_app:Pa55w0rd@db/billing"})
    assert settings.database_app_url == "mysql+aiomysql://billing_app:Pa55w0rd@db/billing"


@pytest.mark.parametrize(("database_url", "app_url", "reason"), [
    (MASTER, "mysql+aiomysql://admin:Pa55w0rd@db:3306/billing", "another user"),  # would reset the master's password
    (MASTER, "mysql+aiomysql://billing_app:Pa55w0rd@elsewhere:3306/billing", "host, port and database"),
    (MASTER, "mysql+aiomysql://billing_app:Pa55w0rd@db:3306/other", "host, port and database"),
    ("sqlite+aiosqlite:///./var/billing.db", "mysql+aiomysql://billing_app:Pa55w0rd@db/billing",
     "not a MySQL database"),
    (MASTER, "mysql+aiomysql://billing-app:Pa55w0rd@db/billing", "letters, digits and underscores"),
    (MASTER, "mysql+aiomysql://billing_app@db/billing", "needs the user's password"),
])
def test_app_url_is_refused_when(database_url: str, app_url: str, reason: str) -> None:
    with pytest.raises(ConfigError) as exc:
        Settings.from_env({"BILLING_DATABASE_URL": database_url, "BILLING_DATABASE_APP_URL": app_url})
    assert reason in str(exc.value)
    assert "Pa55w0rd" not in str(exc.value) and "M4ster" not in str(exc.value)
