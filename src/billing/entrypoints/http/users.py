"""/v1/user: register, read and edit one's own profile."""

from __future__ import annotations

from aiohttp import web

from billing.domain.model import User
from billing.domain.use_cases.register_user import RegisterUserCommand
from billing.domain.use_cases.update_profile import UpdateProfileCommand
from billing.entrypoints.http.auth import authenticated, client_address
from billing.entrypoints.http.idempotency import ANONYMOUS, idempotent
from billing.entrypoints.http.keys import CONTAINER
from billing.entrypoints.http.wire import json_response, read_json_object, user_json
from billing.ports import RecordAnswer

routes = web.RouteTableDef()


def _registered(user: User) -> web.Response:
    return json_response(user_json(user), status=201, headers={"Location": "/v1/user/self"})


# No caller yet: keys share one scope. A replay needs the very same body, password included, so it
# tells nobody anything they did not send; a different body under a taken key is 422.
@routes.post("/v1/user")
@idempotent(lambda: ANONYMOUS, _registered)
async def register(request: web.Request, record: RecordAnswer[User] | None) -> User:
    fields = await read_json_object(request)
    command = RegisterUserCommand(fields=fields, record_answer=record, client_address=client_address(request))
    return await request.app[CONTAINER].register_user().execute(command)


@routes.get("/v1/user/self")
@authenticated
async def get_self(request: web.Request, user: User) -> web.Response:
    return json_response(user_json(user))


@routes.put("/v1/user/self")
@authenticated
async def update_self(request: web.Request, user: User) -> web.Response:
    fields = await read_json_object(request)
    await request.app[CONTAINER].update_profile().execute(UpdateProfileCommand(user=user, fields=fields))
    return web.Response(status=204)
