"""A client generated from /openapi.json with openapi-python-client, as a client author would make
one, calls every operation of the app and parses each answer into its typed model. A status the
document does not list raises (raise_on_unexpected_status), so this also holds the document to
the statuses the app answers with."""

from __future__ import annotations

import base64
import contextlib
import importlib
import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from uuid import uuid4

import pytest

from tests.conftest import PASSWORD

OPENAPI_PYTHON_CLIENT = str(Path(sys.executable).with_name("openapi-python-client"))
PACKAGE = "billing_generated_client"
PDF = b"%PDF-1.7\n" + b"x" * 100
EMAIL = "gen@example.com"


@pytest.fixture
def generated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, ModuleType]]:
    """A function that generates the client from a document and imports its modules."""
    monkeypatch.syspath_prepend(str(tmp_path))
    modules: dict[str, ModuleType] = {}

    def generate(document: bytes) -> dict[str, ModuleType]:
        (tmp_path / "openapi.json").write_bytes(document)
        # No post hooks: formatting the generated code (ruff) is not what this test is about.
        (tmp_path / "config.yaml").write_text(f"package_name_override: {PACKAGE}\npost_hooks: []\n")
        subprocess.run([OPENAPI_PYTHON_CLIENT, "generate", "--path", "openapi.json", "--config", "config.yaml",
                        "--meta", "none", "--output-path", PACKAGE, "--fail-on-warning"],
                       cwd=tmp_path, check=True, capture_output=True, text=True, timeout=120)
        importlib.invalidate_caches()
        for name in ("client", "types", "models", "api.users.register_user", "api.users.get_self",
                     "api.users.update_self", "api.bills.create_bill", "api.bills.list_bills", "api.bills.get_bill",
                     "api.bills.update_bill", "api.bills.delete_bill", "api.bills.request_due_bills_email",
                     "api.attachments.attach_file", "api.attachments.get_file", "api.attachments.delete_file",
                     "api.operations.healthz", "api.operations.readyz", "api.operations.openapi",
                     "api.operations.docs"):
            modules[name] = importlib.import_module(f"{PACKAGE}.{name}")
        return modules

    yield generate  # type: ignore[misc]
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]


async def test_generated_client_parses_every_answer_into_its_typed_model(client, generated) -> None:
    document = await (await client.get("/openapi.json")).read()
    g = generated(document)
    base_url = str(client.make_url("")).rstrip("/")
    token = base64.b64encode(f"{EMAIL}:{PASSWORD}".encode()).decode()
    async with contextlib.AsyncExitStack() as stack:
        anonymous = await stack.enter_async_context(g["client"].Client(base_url=base_url,
                                                                       raise_on_unexpected_status=True))
        signed_in = await stack.enter_async_context(g["client"].AuthenticatedClient(
            base_url=base_url, token=token, prefix="Basic", raise_on_unexpected_status=True))
        wrong = await stack.enter_async_context(g["client"].AuthenticatedClient(
            base_url=base_url, prefix="Basic", raise_on_unexpected_status=True,
            token=base64.b64encode(f"{EMAIL}:Wrong999!".encode()).decode()))
        await every_operation(g, anonymous, signed_in, wrong)


async def every_operation(g: dict[str, ModuleType], anonymous: Any, signed_in: Any, wrong: Any) -> None:
    models, types = g["models"], g["types"]

    async def call(module: str, status: int, *, as_user: Any = signed_in, **kwargs: Any) -> Any:
        response = await g[module].asyncio_detailed(client=as_user, **kwargs)
        assert response.status_code == status, response.content
        return response.parsed

    # Users
    body = models.UserCreate(first_name="Gen", last_name="Erated", email_address=EMAIL, password=PASSWORD)
    user = await call("api.users.register_user", 201, as_user=anonymous, body=body)
    assert isinstance(user, models.User) and user.email_address == EMAIL
    duplicate = await call("api.users.register_user", 400, as_user=anonymous, body=body)
    assert isinstance(duplicate, models.Problem) and duplicate.errors[0].field == "email_address"
    assert isinstance(await call("api.users.get_self", 200), models.User)
    assert await call("api.users.update_self", 204, body=models.UserUpdate(first_name="Janet")) is None

    # Bills: a bill without an attachment, one with, a page of bills, a problem
    bill_input = models.BillInput(vendor="Northwind", bill_date=user.account_created.date(),
                                  due_date=user.account_created.date(), amount_due=120.5,
                                  payment_status=models.PaymentStatus.DUE, currency=models.Currency.EUR)
    bill = await call("api.bills.create_bill", 201, body=bill_input)
    assert isinstance(bill, models.Bill) and isinstance(bill.attachment, models.NoAttachment)
    assert bill.attachment.to_dict() == {} and bill.currency == "EUR"
    upload = models.AttachFileBody(attachment=types.File(payload=io.BytesIO(PDF), file_name="invoice.pdf",
                                                         mime_type="application/pdf"))
    attachment = await call("api.attachments.attach_file", 201, id=bill.id, body=upload)
    assert isinstance(attachment, models.Attachment) and attachment.size == len(PDF)
    assert attachment.mime_type == models.AttachmentMimeType.APPLICATIONPDF
    with_file = await call("api.bills.get_bill", 200, id=bill.id)
    assert isinstance(with_file.attachment, models.Attachment) and with_file.attachment.id == attachment.id
    second = await call("api.attachments.attach_file", 400, id=bill.id, body=upload)
    assert isinstance(second, models.Problem)
    await call("api.bills.create_bill", 201, body=bill_input)
    page = await call("api.bills.list_bills", 200, limit=1)
    assert len(page) == 1 and all(isinstance(b, models.Bill) for b in page)
    everything = await call("api.bills.list_bills", 200)
    assert sorted(type(b.attachment).__name__ for b in everything) == ["Attachment", "NoAttachment"]
    missing = await call("api.bills.get_bill", 404, id=uuid4())
    assert isinstance(missing, models.Problem) and missing.status == 404
    assert isinstance(await call("api.attachments.get_file", 200, id=bill.id, file_id=attachment.id),
                      models.Attachment)
    queued = await call("api.bills.request_due_bills_email", 202, days=30)
    assert isinstance(queued, models.RequestDueBillsEmailResponse202) and queued.days == 30
    assert await call("api.bills.update_bill", 204, id=bill.id, body=bill_input) is None
    assert await call("api.attachments.delete_file", 204, id=bill.id, file_id=attachment.id) is None
    assert await call("api.bills.delete_bill", 204, id=bill.id) is None

    # Operations
    assert isinstance(await call("api.operations.healthz", 200, as_user=anonymous), models.Status)
    assert isinstance(await call("api.operations.readyz", 200, as_user=anonymous), models.Status)
    assert isinstance(await call("api.operations.openapi", 200, as_user=anonymous), models.OpenapiResponse200)
    await call("api.operations.docs", 200, as_user=anonymous)

    # Wrong credentials: 401, then 429 once sign-in throttling starts, both problems
    statuses = []
    for _ in range(10):
        response = await g["api.users.get_self"].asyncio_detailed(client=wrong)
        assert isinstance(response.parsed, models.Problem)
        statuses.append(response.status_code)
    assert statuses[0] == 401 and statuses[-1] == 429
