"""Render the service's secrets from Secrets Manager into a systemd env file.

BILLING_DATABASE_URL from the RDS-managed secret, and BILLING_IDEMPOTENCY_SECRET (the HMAC key of
idempotency fingerprints) from its own secret. Run by billing-secrets.service (as root, with
/etc/billing/bootstrap.env in the environment: DB_SECRET_ARN, DB_HOST, DB_PORT, DB_NAME,
IDEMPOTENCY_SECRET_ARN, AWS_DEFAULT_REGION). The file goes to /run (tmpfs), is written atomically
with mode 0600 and handed to the service user. When the content changed since the last run (RDS
rotated the password), the given units are restarted (try-restart). Nothing is ever printed that
contains a secret.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import subprocess
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


def render(client: Any, environ: Mapping[str, str]) -> str:
    """The env file's content; `client` is a Secrets Manager client."""
    secret = json.loads(client.get_secret_value(SecretId=environ["DB_SECRET_ARN"])["SecretString"])
    url = database_url(secret, environ["DB_HOST"], environ["DB_PORT"], environ["DB_NAME"])
    content = env_line("BILLING_DATABASE_URL", url)
    # Absent from a bootstrap.env written before the secret existed: the service then makes one per run.
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
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--owner", required=True)
    parser.add_argument("--restart-on-change", nargs="*", default=[], metavar="UNIT")
    args = parser.parse_args(argv)

    existed = args.output.exists()
    changed = write_private(args.output, render(boto3.client("secretsmanager"), os.environ), args.owner)
    print(f"{args.output}: {'updated' if changed else 'unchanged'}")
    if changed and existed and args.restart_on_change:
        subprocess.run(["systemctl", "try-restart", *args.restart_on_change], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
