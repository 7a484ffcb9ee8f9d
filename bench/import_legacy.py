"""How fast `billing import-legacy` moves a generated old-webapp database (rows per second).

    .venv/bin/python bench/import_legacy.py --users 10000 --bills-per-user 5 \
        --legacy mysql+aiomysql://billing_test:billing_test@127.0.0.1:3306/billing_test_bench_legacy \
        --target mysql+aiomysql://billing_test:billing_test@127.0.0.1:3306/billing_test_bench

Recreates the old schema in --legacy and fills it (1% of the bills with three decimals, to be
refused), wipes and migrates --target, then runs the real CLI twice (import, then the idempotent
re-run) and prints the wall time and rate of each.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.legacy_schema import OLD_SCHEMA  # noqa: E402

from billing.adapters.sql.migrate import upgrade_to_head  # noqa: E402
from billing.adapters.sql.tables import metadata  # noqa: E402

HASH = "$2b$10$" + "N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"


async def fill(legacy: str, target: str, users: int, bills_per_user: int) -> int:
    admin = create_async_engine(target)  # an existing database on the same server, to create the old one
    async with admin.begin() as conn:
        await conn.execute(sa.text(f"CREATE DATABASE IF NOT EXISTS `{make_url(legacy).database}`"))
    await admin.dispose()
    engine = create_async_engine(legacy)
    rng = random.Random(9)
    start = datetime(2019, 1, 1)
    async with engine.begin() as conn:
        for statement in OLD_SCHEMA:
            await conn.execute(sa.text(statement))
        user_rows = [{"id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "first": f"First{i}",
                      "email": f"User{i}@Example.com", "created": start + timedelta(minutes=i)} for i in range(users)]
        for chunk in range(0, users, 5000):
            await conn.execute(
                sa.text("INSERT INTO `Users` VALUES (:id, :first, 'Doe', :pw, :email, :created, :created)"),
                [r | {"pw": HASH} for r in user_rows[chunk : chunk + 5000]],
            )
        bill_rows = []
        for user in user_rows:
            for _ in range(bills_per_user):
                cents = rng.randint(1, 2_000_000)
                amount = cents / 100 if rng.random() > 0.01 else cents / 1000 + 0.0005
                day = start + timedelta(days=rng.randint(0, 1500))
                bill_rows.append({"id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "amount": amount,
                                  "bill": day, "due": day + timedelta(days=30), "user": user["id"],
                                  "created": day + timedelta(hours=30), "updated": day + timedelta(hours=1)})
        statement = sa.text(
            "INSERT INTO `Bills` (id, vendor, bill_date, due_date, amount_due, payment_status, categories, attachment, "
            "created_at, updated_at, `UserId`) VALUES (:id, 'Vendor', :bill, :due, :amount, 'due', '[\"home\"]', '{}', "
            ":created, :updated, :user)")
        for chunk in range(0, len(bill_rows), 5000):
            await conn.execute(statement, bill_rows[chunk:chunk + 5000])
    await engine.dispose()
    return users + len(bill_rows)


async def wipe(target: str) -> None:
    engine = create_async_engine(target)
    async with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            await conn.execute(sa.delete(table))
    await engine.dispose()


def timed_import(target: str, legacy: str, batch_size: int) -> tuple[float, str]:
    env = os.environ | {"BILLING_DATABASE_URL": target}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "billing.entrypoints.cli", "import-legacy", "--from", legacy,
                             "--batch-size", str(batch_size)], env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - started, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--bills-per-user", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--legacy", required=True)
    parser.add_argument("--target", required=True)
    args = parser.parse_args()
    # The target database must exist; the old one is created beside it.
    rows = asyncio.run(fill(args.legacy, args.target, args.users, args.bills_per_user))
    upgrade_to_head(args.target)
    asyncio.run(wipe(args.target))
    for label in ("import", "re-run (all present)"):
        seconds, out = timed_import(args.target, args.legacy, args.batch_size)
        print(f"{label}: {rows} old rows in {seconds:.1f} s = {rows / seconds:,.0f} rows/s (process start included)")
        print("  " + "\n  ".join(line for line in out.splitlines()[:4]))


if __name__ == "__main__":
    main()
