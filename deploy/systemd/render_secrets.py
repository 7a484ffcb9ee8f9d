"""Render the service's secrets from Secrets Manager into a systemd environment file.

Run as root with /etc/billing/bootstrap.env in the environment: DB_SECRET_ARN (the RDS master's
secret, managed and rotated by RDS), DB_APP_SECRET_ARN (the application user's), IDEMPOTENCY_SECRET_ARN,
DB_HOST, DB_PORT, DB_NAME, AWS_DEFAULT_REGION. `--for` says whose file it is:
- services (billing-secrets.service, read by billing-serve and billing-worker):
  BILLING_DATABASE_URL of the application user (DML rights only) and BILLING_IDEMPOTENCY_SECRET;
- migrate (billing-migrate.service's ExecStartPre, read by `billing migrate` alone):
  BILLING_DATABASE_URL of the RDS master and BILLING_DATABASE_APP_URL of the application user,
  which migrate creates or updates to match.
A bootstrap.env written by an older launch template lacks the newer ARNs: without
DB_APP_SECRET_ARN the services get the master's URL as before and migrate leaves the application
user alone, until the app stack's rolling update replaces the instance; without
IDEMPOTENCY_SECRET_ARN `billing serve` makes a key per run.
The file goes to /run (tmpfs), is written atomically with mode 0600 and handed to the service
user. Nothing is ever printed that contains a secret.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
from sqlalchemy.engine import URL


def database_url(secret: dict[str, str], host: str, port: str, name: str) -> str:
    url = URL.create(
        "mysql+aiomysql",
        username=secret["username"],
        password=secret["password"],
        host=host,
        port=int(port),
        database=name,
        query={"charset": "utf8mb4"},
    )
    return url.render_as_string(hide_password=False)


def env_line(name: str, value: str) -> str:
    """One systemd EnvironmentFile assignment; double quotes with its backslash escapes."""
    escaped = "".join("\\" + ch if ch in '\\"$`' else ch for ch in value)
    return f'{name}="{escaped}"\n'


def render(client: Any, environ: Mapping[str, str], purpose: str = "services") -> str:
    """The env file's content for `purpose` (services or migrate); `client` is a Secrets Manager client."""

    def url_of(arn: str) -> str:
        secret = json.loads(client.get_secret_value(SecretId=arn)["SecretString"])
        return database_url(secret, environ["DB_HOST"], environ["DB_PORT"], environ["DB_NAME"])

    app_arn = environ.get("DB_APP_SECRET_ARN", "")
    if purpose == "migrate":
        content = env_line("BILLING_DATABASE_URL", url_of(environ["DB_SECRET_ARN"]))
        if app_arn:
            content += env_line("BILLING_DATABASE_APP_URL", url_of(app_arn))
        return content
    content = env_line("BILLING_DATABASE_URL", url_of(app_arn or environ["DB_SECRET_ARN"]))
    if environ.get("IDEMPOTENCY_SECRET_ARN"):
        key = client.get_secret_value(SecretId=environ["IDEMPOTENCY_SECRET_ARN"])["SecretString"]
        content += env_line("BILLING_IDEMPOTENCY_SECRET", key)
    return content


def write_private(path: Path, content: str, owner: str) -> bool:
    """Atomically replace `path` (0600, owned by `owner`); return whether the content changed."""
    try:
        changed = path.read_text(encoding="utf-8") != content
    except FileNotFoundError:
        changed = True
    if not changed:
        return False
    user = pwd.getpwnam(owner)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secrets-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
        os.chmod(tmp, 0o600)
        os.chown(tmp, user.pw_uid, user.pw_gid)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--for", dest="purpose", choices=("services", "migrate"), required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--owner", required=True)
    args = parser.parse_args(argv)

    content = render(boto3.client("secretsmanager"), os.environ, args.purpose)
    changed = write_private(args.output, content, args.owner)
    names = ", ".join(line.split("=", 1)[0] for line in content.splitlines())
    print(f"{args.output}: {'updated' if changed else 'unchanged'} ({names})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
