"""`billing import-legacy` end to end: the old webapp's schema with its quirks in MariaDB, the real
CLI in a subprocess, then the old user signs in through the HTTP API and reads the bills back."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

import aiohttp
import bcrypt
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from billing.adapters.sql.tables import attachments, bills, users
from billing.domain.model import NotFound
from billing.entrypoints.http.app import create_app
from tests.conftest import PASSWORD, basic
from tests.integration.conftest import MYSQL_URL, make_container
from tests.legacy_schema import OLD_SCHEMA

# Our test database's name + "_legacy", on the same server: CI and each engineer keep their own.
_url = make_url(MYSQL_URL)
LEGACY_URL = _url.set(database=f"{_url.database}_legacy").render_as_string(hide_password=False)

JANE = "0b5e3a52-8f0c-4d0e-9a4e-6c1f5e2d7a10"
JANE_TWIN = "1c6f4b63-9a1d-4e1f-8b5f-7d2a6f3e8b21"  # the same address in other case, registered later
BOB = "2d7a5c74-ab2e-4f2a-9c6a-8e3b7a4f9c32"  # "bob at example": not an address
BILL_OK = "a0000000-0000-4000-8000-000000000001"
BILL_TWICE_ENCODED = "a0000000-0000-4000-8000-000000000002"
BILL_THREE_DECIMALS = "a0000000-0000-4000-8000-000000000003"
BILL_NOT_A_LIST = "a0000000-0000-4000-8000-000000000004"
BILL_NO_USER = "a0000000-0000-4000-8000-000000000005"
BILL_OF_BOB = "a0000000-0000-4000-8000-000000000006"
BILL_REPEATED_CATEGORY = "a0000000-0000-4000-8000-000000000007"
FILE_OK = "f0000000-0000-4000-8000-000000000001"
FILE_TAMPERED = "f0000000-0000-4000-8000-000000000002"  # the object no longer matches its md5
FILE_OF_ORPHAN_BILL = "f0000000-0000-4000-8000-000000000003"
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40


def old_rows(cost10_hash: str) -> list[tuple[str, dict[str, object]]]:
    user = ("INSERT INTO `Users` VALUES (:id, :first, 'Doe', :password, :email, :created, :created)")
    bill = ("INSERT INTO `Bills` (id, vendor, bill_date, due_date, amount_due, payment_status, categories, "
            "attachment, created_at, updated_at, `UserId`) VALUES (:id, :vendor, '2019-05-01 00:00:00', "
            "'2019-05-31 00:00:00', :amount, 'due', :categories, '{}', :created_at, :updated_at, :user)")

    def a_bill(bill_id: str, user_id: str | None, amount: float = 120.5, categories: str = '["power","home"]',
               vendor: str = "Northwind") -> tuple[str, dict[str, object]]:
        # Swapped by the old webapp: created_at holds the last update, updated_at the creation.
        return bill, {"id": bill_id, "vendor": vendor, "amount": amount, "categories": categories,
                      "created_at": datetime(2019, 6, 2, 10, 0, 0), "updated_at": datetime(2019, 5, 1, 9, 0, 0),
                      "user": user_id}

    def a_file(file_id: str, bill_id: str) -> tuple[str, dict[str, object]]:
        return ("INSERT INTO `AttachFiles` VALUES (:id, 'Invoice May.pdf', :size, :md5, 'application/pdf', :url, "
                "'2019-05-02', :bill)", {"id": file_id, "size": str(len(PDF)), "md5": hashlib.md5(PDF).hexdigest(),
                                        "url": f"https://old.example/{bill_id}_Invoice May.pdf", "bill": bill_id})

    return [
        (user, {"id": JANE, "first": "Jane", "password": cost10_hash, "email": "Jane.Doe@Example.com",
                "created": datetime(2019, 3, 1, 12, 0, 0)}),
        (user, {"id": JANE_TWIN, "first": "Janet", "password": cost10_hash, "email": "jane.doe@example.com",
                "created": datetime(2020, 1, 1, 12, 0, 0)}),
        (user, {"id": BOB, "first": "Bob", "password": cost10_hash, "email": "bob at example",
                "created": datetime(2019, 1, 1, 12, 0, 0)}),
        a_bill(BILL_OK, JANE),
        a_bill(BILL_TWICE_ENCODED, JANE, amount=0.1, categories='"[\\"water\\"]"', vendor="Aqua"),
        a_bill(BILL_THREE_DECIMALS, JANE, amount=12.345),
        a_bill(BILL_NOT_A_LIST, JANE, categories='"utilities"'),
        a_bill(BILL_NO_USER, None),
        a_bill(BILL_OF_BOB, BOB),
        a_bill(BILL_REPEATED_CATEGORY, JANE, categories='["home","home"]'),
        a_file(FILE_OK, BILL_OK),
        a_file(FILE_TAMPERED, BILL_TWICE_ENCODED),
        a_file(FILE_OF_ORPHAN_BILL, BILL_NO_USER),
    ]


@pytest.fixture(scope="module")
def cost10_hash() -> str:
    return bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=10)).decode()


@pytest.fixture
async def legacy_db(mysql_url: str, cost10_hash: str) -> AsyncIterator[AsyncEngine]:
    """The old webapp's database, freshly created with its quirks."""
    admin = create_async_engine(mysql_url)
    async with admin.begin() as conn:
        await conn.execute(sa.text(f"CREATE DATABASE IF NOT EXISTS `{make_url(LEGACY_URL).database}`"))
    await admin.dispose()
    engine = create_async_engine(LEGACY_URL)
    async with engine.begin() as conn:
        for statement in OLD_SCHEMA:
            await conn.execute(sa.text(statement))
        for statement, params in old_rows(cost10_hash):
            await conn.execute(sa.text(statement), params)
    yield engine
    await engine.dispose()


@pytest.fixture
async def old_bucket(real_container) -> AsyncIterator[str]:
    """The old webapp's bucket on the emulator, objects under `<BillId>_<file_name>`."""
    name = f"old-{uuid.uuid4().hex[:20]}"
    await real_container.aws_clients_lifetime.init()
    s3 = real_container.aws_clients()["s3"]
    await s3.create_bucket(Bucket=name)
    await s3.put_object(Bucket=name, Key=f"{BILL_OK}_Invoice May.pdf", Body=PDF)
    await s3.put_object(Bucket=name, Key=f"{BILL_TWICE_ENCODED}_Invoice May.pdf", Body=PDF[:-1] + b"!")
    await s3.put_object(Bucket=name, Key=f"{BILL_NO_USER}_Invoice May.pdf", Body=PDF)
    yield name
    await real_container.shutdown_resources()


async def our_objects(container) -> dict[str, bytes]:
    s3 = container.aws_clients()["s3"]
    listing = await s3.list_objects_v2(Bucket=container.settings().s3_bucket)
    objects = {}
    for item in listing.get("Contents", []):
        response = await s3.get_object(Bucket=container.settings().s3_bucket, Key=item["Key"])
        async with response["Body"] as body:
            objects[item["Key"]] = await body.read()
    return objects


def billing(container, *args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    settings = container.settings()
    env = os.environ | {"BILLING_DATABASE_URL": settings.database_url, "BILLING_S3_BUCKET": settings.s3_bucket,
                        "BILLING_AWS_ENDPOINT_URL": settings.aws_endpoint_url, "BILLING_LOG_LEVEL": "WARNING"}
    env |= environment
    return subprocess.run([sys.executable, "-m", "billing.entrypoints.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120)


async def snapshot(engine: AsyncEngine) -> tuple[list[tuple[object, ...]], ...]:
    async with engine.connect() as conn:
        user_rows = (await conn.execute(sa.select(users).order_by(users.c.id))).all()
        bill_rows = (await conn.execute(sa.select(bills).order_by(bills.c.id))).all()
        file_rows = (await conn.execute(sa.select(attachments).order_by(attachments.c.id))).all()
    return [tuple(r) for r in user_rows], [tuple(r) for r in bill_rows], [tuple(r) for r in file_rows]


async def test_old_user_signs_in_and_reads_bills_after_import(legacy_db, real_container, old_bucket,
                                                              aiohttp_client) -> None:
    engine = real_container.engine()
    import_ = ("import-legacy", "--from", LEGACY_URL, "--s3-bucket", old_bucket)

    dry = billing(real_container, *import_, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "DRY RUN" in dry.stdout and "would import: 1 users, 2 bills, 2 attachments" in dry.stdout
    assert "objects to copy: 2" in dry.stdout
    assert await snapshot(engine) == ([], [], []) and await our_objects(real_container) == {}

    run = billing(real_container, *import_, "--batch-size", "2")
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "imported: 1 users, 2 bills, 1 attachments" in out
    assert "skipped, cannot be imported as they are: 9 rows" in out
    for line in (
        f"user email_address: differs only in case from an older account's address: 1\n    {JANE_TWIN} "
        f"(the older account {JANE} keeps it)",
        f"user email_address: must be a valid email address: 1\n    {BOB}",
        f"bill UserId: is empty (the bill has no user): 1\n    {BILL_NO_USER}",
        f"bill UserId: its user was not imported: 1\n    {BILL_OF_BOB}",
        f"bill amount_due: must have at most two decimals: 1\n    {BILL_THREE_DECIMALS}",
        f"bill categories: must be an array of strings: 1\n    {BILL_NOT_A_LIST}",
        f"bill categories: must not repeat a category: 1\n    {BILL_REPEATED_CATEGORY}",
        f"attachment BillId: its bill was not imported: 1\n    {FILE_OF_ORPHAN_BILL}",
        f"attachment md5: the object's md5 differs from the recorded one: 1\n    {FILE_TAMPERED}",
        "objects copied: 1 (md5 checked), already copied: 0",
    ):
        assert line in out, out
    assert run.stderr == ""  # no terminal: no progress bar, no noise
    key = f"bills/{BILL_OK}/{FILE_OK}"
    assert await our_objects(real_container) == {key: PDF}  # the tampered copy was removed again

    client = await aiohttp_client(create_app(real_container))
    me = await client.get("/v1/user/self", headers=basic("JANE.DOE@example.com"))
    assert me.status == 200
    assert await me.json() == {"id": JANE, "first_name": "Jane", "last_name": "Doe",
                               "email_address": "jane.doe@example.com",
                               "account_created": "2019-03-01T12:00:00.000Z",
                               "account_updated": (await me.json())["account_updated"],
                               "reminder_days": None}  # imported accounts get no reminders until they ask
    listed = await (await client.get("/v1/bills", headers=basic("jane.doe@example.com"))).json()
    assert [(b["id"], b["vendor"], b["amount_due"], b["categories"]) for b in listed] == [
        (BILL_OK, "Northwind", 120.5, ["power", "home"]),
        (BILL_TWICE_ENCODED, "Aqua", 0.1, ["water"]),
    ]
    first = listed[0]
    assert (first["bill_date"], first["due_date"], first["payment_status"], first["currency"]) == \
        ("2019-05-01", "2019-05-31", "due", "USD")
    assert (first["created_ts"], first["updated_ts"]) == ("2019-05-01T09:00:00.000Z", "2019-06-02T10:00:00.000Z")
    attachment = first["attachment"]
    assert (attachment["id"], attachment["file_name"], attachment["size"], attachment["md5"]) == \
        (FILE_OK, "Invoice May.pdf", len(PDF), hashlib.md5(PDF).hexdigest())
    assert listed[1]["attachment"] == {}
    async with aiohttp.ClientSession() as http, http.get(attachment["url"]) as download:
        assert download.status == 200 and await download.read() == PDF
    async with engine.connect() as conn:
        stored_hash = (await conn.execute(sa.select(users.c.password_hash))).scalar_one()
        amounts = (await conn.execute(sa.select(bills.c.amount_due).order_by(bills.c.id))).scalars().all()
        sha256 = (await conn.execute(sa.select(attachments.c.sha256))).scalar_one()
    assert stored_hash.startswith("$argon2id$")  # the bcrypt hash was upgraded at sign-in
    assert [str(a) for a in amounts] == ["120.50", "0.10"]
    assert sha256 == hashlib.sha256(PDF).hexdigest()  # computed by S3 during the copy

    before = await snapshot(engine)
    again = billing(real_container, *import_)
    assert again.returncode == 0, again.stderr
    assert "imported: 0 users, 0 bills, 0 attachments" in again.stdout
    assert "skipped, already present: 1 users, 2 bills, 1 attachments" in again.stdout
    assert "objects copied: 0 (md5 checked), already copied: 1" in again.stdout
    assert await snapshot(engine) == before  # nothing twice, and the upgraded hash is kept
    assert await our_objects(real_container) == {key: PDF}


async def test_metadata_only_import_then_objects_copied_by_a_later_run(legacy_db, real_container,
                                                                      old_bucket) -> None:
    plain = billing(real_container, "import-legacy", BILLING_LEGACY_DATABASE_URL=LEGACY_URL)  # no --from
    assert plain.returncode == 0, plain.stderr
    assert "imported: 1 users, 2 bills, 2 attachments" in plain.stdout
    assert "objects not copied: 2 attachments imported without their files" in plain.stdout
    assert plain.stderr == "" and await our_objects(real_container) == {}
    later = billing(real_container, "import-legacy", "--from", LEGACY_URL, "--s3-bucket", old_bucket)
    assert later.returncode == 0, later.stderr
    assert "objects copied: 1 (md5 checked), already copied: 0" in later.stdout
    assert f"attachment md5: the object's md5 differs from the recorded one: 1\n    {FILE_TAMPERED}" in later.stdout
    assert await our_objects(real_container) == {f"bills/{BILL_OK}/{FILE_OK}": PDF}


async def test_copy_from_verifies_a_multipart_object_by_reading_it(real_container, old_bucket) -> None:
    s3 = real_container.aws_clients()["s3"]
    data = os.urandom(5 * 1024 * 1024) + b"tail"
    upload = await s3.create_multipart_upload(Bucket=old_bucket, Key="big.pdf")
    parts = []
    for number, body in enumerate((data[:5 * 1024 * 1024], data[5 * 1024 * 1024:]), start=1):
        part = await s3.upload_part(Bucket=old_bucket, Key="big.pdf", UploadId=upload["UploadId"],
                                    PartNumber=number, Body=body)
        parts.append({"ETag": part["ETag"], "PartNumber": number})
    await s3.complete_multipart_upload(Bucket=old_bucket, Key="big.pdf", UploadId=upload["UploadId"],
                                       MultipartUpload={"Parts": parts})
    assert "-" in (await s3.head_object(Bucket=old_bucket, Key="big.pdf"))["ETag"]  # not an md5
    store = real_container.file_store()
    copied = await store.copy_from(old_bucket, "big.pdf", "bills/x/y", content_type="application/pdf")
    assert (copied.size, copied.md5, copied.sha256, copied.copied) == \
        (len(data), hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest(), True)
    again = await store.copy_from(old_bucket, "big.pdf", "bills/x/y", content_type="application/pdf")
    assert again.copied is False and again.md5 == copied.md5 and again.sha256 == copied.sha256
    with pytest.raises(NotFound):
        await store.copy_from(old_bucket, "missing.pdf", "bills/x/z", content_type="application/pdf")


async def test_fatal_errors_are_one_line_and_exit_2(legacy_db, mysql_url, real_container) -> None:
    unreachable = billing(real_container, "import-legacy", "--from", "mysql+aiomysql://old:secret@127.0.0.1:1/csye6225")
    assert unreachable.returncode == 2 and unreachable.stdout == ""
    assert unreachable.stderr.count("\n") == 1 and "cannot read the old database" in unreachable.stderr
    assert "secret" not in unreachable.stderr
    # Our own database has `users`, not the old `Users` (table names are case-sensitive on Linux).
    wrong = billing(real_container, "import-legacy", "--from", mysql_url)
    assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1
    assert "does not look like the old webapp's database" in wrong.stderr
    down = make_container("mysql+aiomysql://nobody:x@127.0.0.1:1/none", real_container.settings().aws_endpoint_url)
    our_db_down = billing(down, "import-legacy", "--from", LEGACY_URL)
    assert our_db_down.returncode == 2 and our_db_down.stderr.count("\n") == 1, our_db_down.stderr
    assert "nobody:***@127.0.0.1:1/none" in our_db_down.stderr
