"""Attachments end to end on real MariaDB/SQLite and moto's S3, over HTTP."""

from __future__ import annotations

import hashlib
import io
import os

import aiohttp
import pytest
import sqlalchemy as sa
from dependency_injector import providers

from billing.adapters.sql.tables import attachments
from billing.adapters.sql.unit_of_work import SqlUnitOfWork
from billing.domain.model import ServiceUnavailable
from billing.entrypoints.http.app import create_app
from tests.conftest import PASSWORD, basic
from tests.integration.conftest import make_container, wipe

USER = {"first_name": "Jane", "last_name": "Doe", "email_address": "jane@example.com", "password": PASSWORD}
BILL = {"vendor": "Northwind", "bill_date": "2026-11-01", "due_date": "2026-11-30", "amount_due": 10,
        "payment_status": "due"}
AUTH = basic("jane@example.com")
PDF = b"%PDF-1.7\n" + os.urandom(200_000)


def form(data: bytes, name: str = "invoice.pdf", field: str = "attachment") -> aiohttp.FormData:
    body = aiohttp.FormData(quote_fields=False)  # raw UTF-8 names, as browsers and curl send them
    # a file-like object: aiohttp warns (an error here) about large raw bytes bodies
    body.add_field(field, io.BytesIO(data), filename=name, content_type="application/octet-stream")
    return body


async def objects_in(container) -> list[str]:
    s3 = container.aws_clients()["s3"]
    listing = await s3.list_objects_v2(Bucket=container.settings().s3_bucket)
    return [o["Key"] for o in listing.get("Contents", [])]


async def rows_in(container) -> int:
    async with container.engine().connect() as conn:
        return (await conn.execute(sa.select(sa.func.count()).select_from(attachments))).scalar_one()


async def new_client(aiohttp_client, container):
    client = await aiohttp_client(create_app(container))
    assert (await client.post("/v1/user", json=USER)).status == 201
    bill = await (await client.post("/v1/bill", json=BILL, headers=AUTH)).json()
    return client, bill


@pytest.fixture
async def session(aiohttp_client, real_container):
    return await new_client(aiohttp_client, real_container)


async def test_upload_download_and_delete(session, real_container) -> None:
    client, bill = session
    response = await client.post(f"/v1/bill/{bill['id']}/file", data=form(PDF, "Factura ñ.pdf"), headers=AUTH)
    assert response.status == 201, await response.text()
    attachment = await response.json()
    assert attachment["size"] == len(PDF) and attachment["md5"] == hashlib.md5(PDF).hexdigest()
    assert attachment["mime_type"] == "application/pdf" and attachment["file_name"] == "Factura ñ.pdf"
    assert await objects_in(real_container) == [f"bills/{bill['id']}/{attachment['id']}"]

    async with aiohttp.ClientSession() as http, http.get(attachment["url"]) as download:
        assert download.status == 200
        assert await download.read() == PDF
        assert "filename*=UTF-8''Factura%20%C3%B1.pdf" in download.headers["Content-Disposition"]

    shown = await (await client.get(f"/v1/bill/{bill['id']}", headers=AUTH)).json()
    assert shown["attachment"]["id"] == attachment["id"]
    listed = await (await client.get("/v1/bills", headers=AUTH)).json()
    assert listed[0]["attachment"]["md5"] == attachment["md5"]
    fetched = await client.get(f"/v1/bill/{bill['id']}/file/{attachment['id']}", headers=AUTH)
    assert (await fetched.json())["size"] == len(PDF)

    second = await client.post(f"/v1/bill/{bill['id']}/file", data=form(PDF), headers=AUTH)
    assert second.status == 400
    assert len(await objects_in(real_container)) == 1

    assert (await client.delete(f"/v1/bill/{bill['id']}/file/{attachment['id']}", headers=AUTH)).status == 204
    assert await objects_in(real_container) == [] and await rows_in(real_container) == 0
    assert (await client.get(f"/v1/bill/{bill['id']}/file/{attachment['id']}", headers=AUTH)).status == 404


async def test_large_file_goes_up_in_parts_intact(session, real_container) -> None:
    client, bill = session
    data = b"\x89PNG\r\n\x1a\n" + os.urandom(12 * 1024 * 1024)  # three multipart parts
    response = await client.post(f"/v1/bill/{bill['id']}/file", data=form(data, "scan.png"), headers=AUTH)
    assert response.status == 201
    attachment = await response.json()
    async with aiohttp.ClientSession() as http, http.get(attachment["url"]) as download:
        assert hashlib.md5(await download.read()).hexdigest() == attachment["md5"] == hashlib.md5(data).hexdigest()


async def test_deleting_the_bill_removes_the_object(session, real_container) -> None:
    client, bill = session
    assert (await client.post(f"/v1/bill/{bill['id']}/file", data=form(PDF), headers=AUTH)).status == 201
    assert (await client.delete(f"/v1/bill/{bill['id']}", headers=AUTH)).status == 204
    assert await objects_in(real_container) == [] and await rows_in(real_container) == 0


@pytest.mark.parametrize(("data", "status"), [(b"GIF89a" + b"\0" * 100, 415), (b"", 415)])
async def test_wrong_type_is_refused_and_nothing_stored(session, real_container, data, status) -> None:
    client, bill = session
    response = await client.post(f"/v1/bill/{bill['id']}/file", data=form(data, "fake.pdf"), headers=AUTH)
    assert response.status == status
    assert await objects_in(real_container) == [] and await rows_in(real_container) == 0


async def test_no_file_part_is_400(session) -> None:
    client, bill = session
    assert (await client.post(f"/v1/bill/{bill['id']}/file", data=form(PDF, field="other"), headers=AUTH)).status == 400
    assert (await client.post(f"/v1/bill/{bill['id']}/file", json={}, headers=AUTH)).status == 400


async def test_another_users_bill_is_404(session, real_container) -> None:
    client, bill = session
    await client.post("/v1/user", json=USER | {"email_address": "eve@example.com"})
    response = await client.post(f"/v1/bill/{bill['id']}/file", data=form(PDF), headers=basic("eve@example.com"))
    assert response.status == 404
    assert await objects_in(real_container) == []


async def test_size_limit_enforced_while_streaming(aiohttp_client, mysql_url, aws_endpoint) -> None:
    container = make_container(mysql_url, aws_endpoint, max_upload_bytes=1024 * 1024)
    await wipe(container.engine())
    client = await aiohttp_client(create_app(container))
    await container.bootstrap()
    assert (await client.post("/v1/user", json=USER)).status == 201
    bill = await (await client.post("/v1/bill", json=BILL, headers=AUTH)).json()

    async def body():  # chunked: no Content-Length, so the limit must bite mid-stream
        yield b"%PDF-"
        for _ in range(40):
            yield b"\0" * 65536

    writer = aiohttp.MultipartWriter("form-data")
    part = writer.append(body(), {"Content-Type": "application/pdf"})
    part.set_content_disposition("form-data", name="attachment", filename="big.pdf")
    response = await client.post(f"/v1/bill/{bill['id']}/file", data=writer, headers=AUTH)
    assert response.status == 413
    assert await objects_in(container) == [] and await rows_in(container) == 0
    s3 = container.aws_clients()["s3"]
    uploads = await s3.list_multipart_uploads(Bucket=container.settings().s3_bucket)
    assert uploads.get("Uploads", []) == []  # the aborted multipart upload left nothing either
    await container.engine().dispose()


class InsertFailsUnitOfWork(SqlUnitOfWork):
    """The real unit of work whose attachment insert fails, as if the database died mid-request."""

    async def __aenter__(self):
        await super().__aenter__()

        async def fail(attachment) -> None:
            raise ServiceUnavailable("database went away")

        self.attachments.add = fail  # type: ignore[method-assign]
        return self


async def test_object_removed_when_the_database_insert_fails(session, real_container) -> None:
    client, bill = session
    real_container.uow.override(providers.Factory(InsertFailsUnitOfWork, real_container.engine))
    response = await client.post(f"/v1/bill/{bill['id']}/file", data=form(PDF), headers=AUTH)
    assert response.status == 503
    assert await objects_in(real_container) == [] and await rows_in(real_container) == 0


async def test_storage_unreachable_is_503_without_metadata(aiohttp_client, mysql_url) -> None:
    container = make_container(mysql_url, "http://127.0.0.1:1")
    await wipe(container.engine())
    client = await aiohttp_client(create_app(container))
    assert (await client.post("/v1/user", json=USER)).status == 201
    bill = await (await client.post("/v1/bill", json=BILL, headers=AUTH)).json()
    response = await client.post(f"/v1/bill/{bill['id']}/file", data=form(PDF), headers=AUTH)
    assert response.status == 503
    assert await rows_in(container) == 0
    await container.engine().dispose()


async def test_bootstrap_is_idempotent_and_configures_the_bucket(real_container) -> None:
    await real_container.init_resources()
    try:
        await real_container.bootstrap()  # second time: nothing breaks
        s3 = real_container.aws_clients()["s3"]
        bucket = real_container.settings().s3_bucket
        rules = (await s3.get_bucket_lifecycle_configuration(Bucket=bucket))["Rules"]
        assert rules[0]["Expiration"]["Days"] == 30 and rules[0]["Status"] == "Enabled"
        encryption = await s3.get_bucket_encryption(Bucket=bucket)
        assert (
            encryption["ServerSideEncryptionConfiguration"]["Rules"][0]["ApplyServerSideEncryptionByDefault"][
                "SSEAlgorithm"
            ]
            == "AES256"
        )
        block = (await s3.get_public_access_block(Bucket=bucket))["PublicAccessBlockConfiguration"]
        assert all(block.values())
    finally:
        await real_container.shutdown_resources()
