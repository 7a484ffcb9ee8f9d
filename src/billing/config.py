"""Settings: typed, frozen, read from BILLING_* environment variables only."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import logging
import os
import re
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlsplit


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable and what is wrong."""


def _port(raw: str) -> int:
    value = int(raw)
    if not 0 <= value <= 65535:
        raise ValueError("must be a TCP port, 0-65535")
    return value


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError("must be a positive integer")
    return value


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
    return level


# A host name or an IP address (SQLAlchemy gives IPv6 ones without their brackets).
_HOST = re.compile(r"[A-Za-z0-9:][A-Za-z0-9._:-]{0,252}")


def read_database_url(raw: str) -> Any:
    """SQLAlchemy's URL object for `raw` (what the engine will use), checked for what the engine
    would only trip on later: a port that is not a number, a MySQL URL without host or database,
    an unescaped '@' in the password. ValueError says what is wrong, never showing the value."""
    # Imported here: the Lambda package carries no SQLAlchemy, and it never sets a database URL.
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if not raw.startswith(("sqlite+aiosqlite://", "mysql+aiomysql://")):
        raise ValueError("must start with sqlite+aiosqlite:// or mysql+aiomysql://")
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ValueError("is not a URL such as mysql+aiomysql://user:password@host:3306/database") from None
    except ValueError:
        raise ValueError("has a port that is not a number") from None
    if url.get_backend_name() == "mysql":
        # An unescaped '@' in the password makes the rest of the password part of the host name.
        if not url.host or not _HOST.fullmatch(url.host):
            raise ValueError("needs a host name; write '@', ':', '/' in the password as %40, %3A, %2F")
        if url.port is not None and not 1 <= url.port <= 65535:
            raise ValueError("has a port outside 1-65535")
        if not url.database:
            raise ValueError("needs a database name (mysql+aiomysql://user:password@host:3306/database)")
    return url


def _database_url(raw: str) -> str:
    read_database_url(raw)
    return raw


def _app_database_url(raw: str) -> str:
    url = read_database_url(raw)
    if url.get_backend_name() != "mysql":
        raise ValueError("must be a mysql+aiomysql:// URL (the application user exists only on MySQL)")
    if not url.username or not re.fullmatch(r"[A-Za-z0-9_]{1,32}", url.username):
        raise ValueError("needs a user name of 1-32 letters, digits and underscores")
    if not url.password:
        raise ValueError("needs the user's password")
    return raw


def shown_url(raw: str) -> str:
    """`raw` as it may be printed: the password hidden, or nothing when the URL cannot be read
    well enough to be sure where the password is."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(raw)
    except (ArgumentError, ValueError):
        return "(not shown: it may hold a password)"
    if url.host is not None and not _HOST.fullmatch(url.host):
        return "(not shown: it may hold a password)"
    return str(url.render_as_string(hide_password=True))


def _http_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http(s) URL")
    return raw.rstrip("/")


def _text(raw: str) -> str:
    return raw


def _aws_region(raw: str) -> str:
    if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", raw):
        raise ValueError("must be an AWS region such as us-east-1")
    return raw


def _bucket_name(raw: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", raw):
        raise ValueError("must be a valid S3 bucket name (3-63 lower-case letters, digits, dots, hyphens)")
    return raw


def _presign_expiry(raw: str) -> int:
    value = int(raw)
    if not 1 <= value <= 604800:
        raise ValueError("must be 1 to 604800 seconds (S3's limit for s3v4 pre-signed URLs)")
    return value


def _aws_name(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,80}", raw):
        raise ValueError("must be 1-80 letters, digits, '.', '_' or '-'")
    return raw


def _arn(raw: str) -> str:
    if not re.fullmatch(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}", raw):
        raise ValueError("must be an SNS topic ARN")
    return raw


def _email(raw: str) -> str:
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", raw):
        raise ValueError("must be an email address")
    return raw


def _wait_seconds(raw: str) -> int:
    value = int(raw)
    if not 0 <= value <= 20:
        raise ValueError("must be 0 to 20 (SQS long polling)")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be zero or a positive integer")
    return value


def _readable_file(raw: str) -> str:
    if not os.path.isfile(raw) or not os.access(raw, os.R_OK):
        raise ValueError("must name a readable file")
    return raw


def _ca_bundle(raw: str) -> str:
    """A readable file that holds at least one certificate: found here, it is one line at start-up
    rather than every worker failing as it opens its first connection."""
    _readable_file(raw)
    try:
        ssl.create_default_context(cafile=raw)
    except ssl.SSLError:
        raise ValueError("holds no certificate (a PEM CA bundle is expected)") from None
    return raw


def _log_format(raw: str) -> str:
    value = raw.lower()
    if value not in ("auto", "json", "text"):
        raise ValueError("must be auto, json or text")
    return value


def _metric_prefix(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*", raw):
        raise ValueError("must be dot-separated words of letters, digits and underscores")
    return raw


def _hostname(raw: str) -> str:
    if ":" in raw:
        try:
            ipaddress.IPv6Address(raw)
        except ValueError:
            raise ValueError("must be a host name or an IP address (no scheme, port or path)") from None
    elif any(c.isspace() or c in "/@" for c in raw) or len(raw) > 253:
        raise ValueError("must be a host name or an IP address (no scheme, port or path)")
    return raw


def _origins(raw: str) -> tuple[str, ...]:
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    for origin in origins:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query:
            raise ValueError("must be comma-separated origins such as https://app.example.com ('*' is not accepted)")
    return origins


def _secret(raw: str) -> str:
    if len(raw) < 32:
        raise ValueError("must be at least 32 characters (for example `openssl rand -hex 32`)")
    return raw


def _window_seconds(raw: str) -> int:
    value = int(raw)
    if not 1 <= value <= 86400:
        raise ValueError("must be 1 to 86400 seconds")
    return value


def _seconds(raw: str) -> float:
    value = float(raw)
    if not 0 <= value <= 3600 or value != value:
        raise ValueError("must be a number of seconds, 0-3600")
    return value


def _positive_seconds(raw: str) -> float:
    value = _seconds(raw)
    if value <= 0:
        raise ValueError("must be a number of seconds above 0, at most 3600")
    return value


_HH_MM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


def _utc_time_of_day(raw: str) -> str:
    if not _HH_MM.fullmatch(raw):
        raise ValueError("must be a UTC time of day as HH:MM, 00:00-23:59")
    return raw


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Every setting, with its default. README lists them; keep the two in step."""

    http_host: str = "127.0.0.1"
    http_port: int = 8080
    http_workers: int = 0  # `billing serve` processes; 0: one per CPU this process may run on
    database_url: str = "sqlite+aiosqlite:///./var/billing.db"
    database_ssl_ca: str = ""  # CA bundle file; when set, MySQL connections use verified TLS
    # `billing migrate` only: the application user's URL (what serve and worker get as their
    # database_url); migrate makes sure that user exists with that password and DML rights only.
    database_app_url: str = ""
    public_base_url: str = ""  # default: http://{http_host}:{http_port}
    log_level: str = "INFO"
    db_pool_size: int = 10
    credential_cache_seconds: int = 60
    aws_region: str = "us-east-1"
    aws_endpoint_url: str = ""  # empty: AWS itself; `billing local` points it at the emulator
    s3_bucket: str = "billing-attachments"
    presign_expiry_seconds: int = 300
    max_upload_bytes: int = 20 * 1024 * 1024
    local_aws_port: int = 4566
    due_queue_url: str = ""  # production: the queue's URL; empty: resolved from due_queue_name
    due_queue_name: str = "billing-due-requests"
    digest_topic_arn: str = ""  # production: the topic's ARN; empty: resolved from digest_topic_name
    digest_topic_name: str = "billing-due-digests"
    ledger_table: str = "billing-email-ledger"
    mail_sender: str = "billing@example.com"
    worker_concurrency: int = 10
    worker_wait_seconds: int = 20
    worker_visibility_seconds: int = 60
    worker_retry_delay_seconds: int = 5
    queue_max_receives: int = 5
    outbox_dir: str = ""  # when set, every sent email is also written there as an .eml file
    log_format: str = "auto"  # auto: readable text for `billing local` on a terminal, JSON lines otherwise
    statsd_host: str = ""  # empty: metrics are off (NullMetrics)
    statsd_port: int = 8125
    statsd_prefix: str = "billing"
    cors_origins: tuple[str, ...] = ()  # empty: no CORS headers at all (browsers keep other origins out)
    # Sign-in throttling (docs/reliability-and-security.md): failures per window...
    login_window_seconds: int = 900  # ...counted in fixed windows this long
    login_failures_per_pair: int = 5  # ...of one account from one client address
    login_failures_per_address: int = 20  # ...from one client address, whatever the accounts
    login_failures_per_account: int = 10  # ...of one account; past it, failing addresses stop at once
    registrations_per_address: int = 10  # POST /v1/user per client address and registration window
    registration_window_seconds: int = 3600
    forwarded_hops: int = 0  # proxies in front that append to X-Forwarded-For (the ALB: 1); 0 trusts none
    db_timeout_seconds: float = 1.5  # a database statement or connection attempt slower than this is a 503
    shutdown_drain_seconds: float = 0.0  # on SIGTERM: /readyz is 503 but requests are still accepted this long
    reminder_time: str = "08:00"  # UTC HH:MM: when `billing local` runs the daily reminder round
    # The HMAC key of idempotency fingerprints; every instance needs the same. Empty: `billing
    # serve` makes one for its run (cli.py). Never printed, not even in an error.
    idempotency_secret: str = dataclasses.field(default="", repr=False, metadata={"secret": True})
    body_timeout_seconds: float = 30.0  # a request body that sends no byte this long: 408, connection closed

    @property
    def base_url(self) -> str:
        return self.public_base_url or f"http://{self.http_host}:{self.http_port}"

    @property
    def reminder_time_of_day(self) -> dt.time:
        hours, minutes = self.reminder_time.split(":")
        return dt.time(int(hours), int(minutes), tzinfo=dt.UTC)

    @property
    def log_level_number(self) -> int:
        return logging.getLevelNamesMapping()[self.log_level]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read BILLING_<FIELD> for each field; raise ConfigError naming the first bad variable."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in fields(cls):
            name = "BILLING_" + field.name.upper()
            raw = environ.get(name)
            if raw is None or raw == "":
                continue
            try:
                values[field.name] = _PARSERS[field.name](raw.strip())
            except ValueError as exc:
                reason = str(exc) if not str(exc).startswith("invalid literal") else "must be an integer"
                if field.metadata.get("secret"):
                    shown = f"{name} (value not shown)"
                elif field.name in _URLS_WITH_PASSWORDS:
                    shown = f"{name}={shown_url(raw.strip())}"
                else:
                    shown = f"{name}={raw!r}"
                raise ConfigError(f"{shown}: {reason}") from None
        return cls(**values)

    def __post_init__(self) -> None:
        if self.database_app_url:
            _check_app_url(self.database_url, self.database_app_url)


_URLS_WITH_PASSWORDS = frozenset({"database_url", "database_app_url"})


def _check_app_url(database_url: str, app_url: str) -> None:
    from sqlalchemy.engine import make_url

    ours, app = make_url(database_url), make_url(app_url)
    if ours.get_backend_name() != "mysql":
        raise ConfigError("BILLING_DATABASE_APP_URL is set, but BILLING_DATABASE_URL is not a MySQL database")
    if (app.host, app.port or 3306, app.database) != (ours.host, ours.port or 3306, ours.database):
        raise ConfigError("BILLING_DATABASE_APP_URL must name the host, port and database of BILLING_DATABASE_URL")
    if app.username == ours.username:
        # migrate would set the password of the user it runs as (the RDS master) to the app's.
        raise ConfigError("BILLING_DATABASE_APP_URL must name another user than BILLING_DATABASE_URL")


_PARSERS: dict[str, Callable[[str], Any]] = {
    "http_host": _text,
    "http_port": _port,
    "http_workers": _non_negative_int,
    "database_url": _database_url,
    "database_ssl_ca": _ca_bundle,
    "database_app_url": _app_database_url,
    "public_base_url": _http_url,
    "log_level": _log_level,
    "db_pool_size": _positive_int,
    "credential_cache_seconds": _positive_int,
    "aws_region": _aws_region,
    "aws_endpoint_url": _http_url,
    "s3_bucket": _bucket_name,
    "presign_expiry_seconds": _presign_expiry,
    "max_upload_bytes": _positive_int,
    "local_aws_port": _port,
    "due_queue_url": _http_url,
    "due_queue_name": _aws_name,
    "digest_topic_arn": _arn,
    "digest_topic_name": _aws_name,
    "ledger_table": _aws_name,
    "mail_sender": _email,
    "worker_concurrency": _positive_int,
    "worker_wait_seconds": _wait_seconds,
    "worker_visibility_seconds": _positive_int,
    "worker_retry_delay_seconds": _non_negative_int,
    "queue_max_receives": _positive_int,
    "outbox_dir": _text,
    "log_format": _log_format,
    "statsd_host": _hostname,
    "statsd_port": _port,
    "statsd_prefix": _metric_prefix,
    "cors_origins": _origins,
    "login_window_seconds": _window_seconds,
    "login_failures_per_pair": _positive_int,
    "login_failures_per_address": _positive_int,
    "login_failures_per_account": _positive_int,
    "registrations_per_address": _positive_int,
    "registration_window_seconds": _window_seconds,
    "forwarded_hops": _non_negative_int,
    "db_timeout_seconds": _seconds,
    "shutdown_drain_seconds": _seconds,
    "reminder_time": _utc_time_of_day,
    "idempotency_secret": _secret,
    "body_timeout_seconds": _positive_seconds,
}
