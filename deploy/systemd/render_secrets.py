"""Render BILLING_DATABASE_URL from the RDS-managed Secrets Manager secret into a systemd env file.

Run by billing-secrets.service (as root, with /etc/billing/bootstrap.env in the environment:
DB_SECRET_ARN, DB_HOST, DB_PORT, DB_NAME, AWS_DEFAULT_REGION). The file goes to /run (tmpfs), is
written atomically with mode 0600 and handed to the service user. When the content changed
since the last run (RDS rotated the password), the given units are restarted (try-restart).
Nothing is ever printed that contains the password.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import subprocess
import sys
import tempfile
from pathlib import Path

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
    client = boto3.client("secretsmanager")
    secret = json.loads(client.get_secret_value(SecretId=os.environ["DB_SECRET_ARN"])["SecretString"])
    url = database_url(secret, os.environ["DB_HOST"], os.environ["DB_PORT"], os.environ["DB_NAME"])
    changed = write_private(args.output, env_line("BILLING_DATABASE_URL", url), args.owner)
    print(f"{args.output}: {'updated' if changed else 'unchanged'}")
    if changed and existed and args.restart_on_change:
        subprocess.run(["systemctl", "try-restart", *args.restart_on_change], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
