"""/v1/bill and /v1/bills: a user's bills."""

from __future__ import annotations

from aiohttp import web

from billing.domain.model import Bill, BillQuery, BillView, NotFound, User
from billing.domain.model.bill import parse_days
from billing.domain.use_cases.create_bill import CreateBillCommand
from billing.domain.use_cases.delete_bill import DeleteBillCommand
from billing.domain.use_cases.get_own_bill import GetOwnBillCommand
from billing.domain.use_cases.list_own_bills import ListOwnBillsCommand
from billing.domain.use_cases.request_due_bills_email import RequestDueBillsEmailCommand
from billing.domain.use_cases.update_bill import UpdateBillCommand
from billing.entrypoints.http.auth import authenticated, caller_input, signed_in
from billing.entrypoints.http.idempotency import idempotent, user_scope
from billing.entrypoints.http.keys import CONTAINER, SETTINGS
from billing.entrypoints.http.paths import path_uuid
from billing.entrypoints.http.wire import (
    bill_json,
    json_response,
    read_json_object,
    stream_json_array,
)
from billing.ports import RecordAnswer

routes = web.RouteTableDef()


def _created(bill: Bill) -> web.Response:
    return json_response(bill_json(BillView.of(bill)), status=201, headers={"Location": f"/v1/bill/{bill.id}"})


@routes.post("/v1/bill")
@authenticated
@idempotent(lambda user: user_scope(user.id), _created)
async def create_bill(request: web.Request, record: RecordAnswer[Bill] | None, user: User) -> Bill:
    fields = await read_json_object(request)
    command = CreateBillCommand(owner_id=user.id, fields=fields, record_answer=record)
    return await request.app[CONTAINER].create_bill().execute(command)


@routes.get("/v1/bills")
async def list_bills(request: web.Request) -> web.StreamResponse:
    query = await caller_input(request, lambda: BillQuery.from_params(request.query))
    # The caller and the (first page of) bills in one query: authentication is part of the use case.
    use_case = request.app[CONTAINER].list_own_bills()
    own = await signed_in(request, lambda credentials: use_case.execute(
        ListOwnBillsCommand(credentials=credentials, query=query)))
    if own.rest is not None:  # unpaged and longer than a page: streamed, page by page
        return await stream_json_array(request, own.bills, own.rest, bill_json)
    headers = {}
    if own.next is not None and own.next.after is not None:
        url = request.rel_url.update_query(cursor=own.next.after.encode())
        headers["Link"] = f'<{request.app[SETTINGS].base_url}{url}>; rel="next"'
    return json_response([bill_json(bill) for bill in own.bills], headers=headers)


@routes.get("/v1/bill/{id}")
async def get_bill(request: web.Request) -> web.Response:
    bill_id = await caller_input(request, lambda: path_uuid(request, "id"))
    # The caller and the bill in one query (authentication is part of the use case).
    use_case = request.app[CONTAINER].get_own_bill()
    own = await signed_in(request, lambda credentials: use_case.execute(
        GetOwnBillCommand(credentials=credentials, bill_id=bill_id)))
    if own.bill is None:
        raise NotFound()
    return json_response(bill_json(own.bill))


@routes.put("/v1/bill/{id}")
@authenticated
async def update_bill(request: web.Request, user: User) -> web.Response:
    bill_id = path_uuid(request, "id")
    fields = await read_json_object(request)
    command = UpdateBillCommand(owner_id=user.id, bill_id=bill_id, fields=fields)
    await request.app[CONTAINER].update_bill().execute(command)
    return web.Response(status=204)


@routes.delete("/v1/bill/{id}")
@authenticated
async def delete_bill(request: web.Request, user: User) -> web.Response:
    command = DeleteBillCommand(owner_id=user.id, bill_id=path_uuid(request, "id"))
    await request.app[CONTAINER].delete_bill().execute(command)
    return web.Response(status=204)


@routes.get("/v1/bills/due/{days}")
@authenticated
async def request_due_bills_email(request: web.Request, user: User) -> web.Response:
    days = parse_days(request.match_info["days"])
    command = RequestDueBillsEmailCommand(user=user, days=days)
    await request.app[CONTAINER].request_due_bills_email().execute(command)  # 503 if it cannot be queued
    message = f"The email of your bills due within {days} days will be sent to {user.email_address} shortly."
    return json_response({"message": message, "days": days}, status=202)
