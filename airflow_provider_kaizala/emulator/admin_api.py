"""The admin API under ``/_emulator``, served by FastAPI: reset, fault switches, relocation, token expiry, the clock,
connectors, the PIN inbox, groups, the demo tenant, the call log, sent messages, churn and the OpenAPI document.

Admin routes have no auth, no throttling, no faults, no call log, and are not part of the Kaizala API (left out of
the OpenAPI document). Bodies are lenient, as befits a test harness: JSON keys match in any case, and a body may
come without a ``Content-Type``. Handlers reach the emulator only through :class:`~.services.Services`
(``state``, ``faults`` and ``control``).

Annotations are evaluated eagerly: FastAPI reads the parameters declared inside :func:`router` from them.
"""

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Path, Query
from pydantic import AfterValidator, BeforeValidator, Field, StrictStr
from starlette.responses import Response

from airflow_provider_kaizala.emulator import demo
from airflow_provider_kaizala.emulator.access import GroupId, existing_group
from airflow_provider_kaizala.emulator.faults import FaultConfigError
from airflow_provider_kaizala.emulator.members import member_json
from airflow_provider_kaizala.emulator.models import Body, HttpUrl, LenientInt, Phone, any_case
from airflow_provider_kaizala.emulator.services import EndpointUrl, Services, admin
from airflow_provider_kaizala.emulator.state import ALL_PERMISSIONS, Connector, Group, Member, State, phone_int, user_id
from airflow_provider_kaizala.emulator.wire import ApiError, bad_request, json_response, not_found

#: The most synthetic subscribers one call may create (subscriberCount, the demo's subscribers, churn's add).
MAX_SYNTHETIC = 5_000_000
DEFAULT_TENANT = "00000000-0000-4000-8000-000000000001"


def _permission(value: str) -> str:
    if value not in ALL_PERMISSIONS:
        raise ValueError(f"must be one of {', '.join(ALL_PERMISSIONS)}")
    return value


def _seed(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError("must be an integer or a string")
    return value


Permission = Annotated[StrictStr, AfterValidator(_permission)]
Count = Annotated[LenientInt, Field(ge=0, le=MAX_SYNTHETIC)]


class Relocation(Body):
    """Where to move one connector (``applicationId``) or all of them: ``to``, or else the other endpoint."""

    to: HttpUrl | None = None
    applicationId: StrictStr | None = None


class TokenExpiry(Body):
    """Whose access tokens to expire: one connector's, or everybody's."""

    applicationId: StrictStr | None = None


class ClockAdvance(Body):
    """How far to move the emulator's clock (seconds, may be negative)."""

    advance_seconds: Annotated[float, Field(allow_inf_nan=False)] = 0.0


class NewConnector(Body):
    """A connector to create; what is left out gets a default (a random user, every permission, tenant token)."""

    name: StrictStr | None = None
    phone: Phone | None = None
    tenantId: StrictStr | None = None
    permissions: list[Permission] | None = None
    groupId: Annotated[StrictStr | None, Field(description="a group token's group")] = None


class NewGroup(Body):
    """A group to create directly (no connector needed), with members, admins and subscribers."""

    name: StrictStr = ""
    groupType: any_case("Group", "ConnectGroup") = "Group"  # type: ignore[valid-type]
    welcomeMessage: StrictStr = ""
    admins: list[Phone] = []
    members: list[Phone] = []
    unprovisioned: Annotated[list[Phone], Field(description="numbers that are not Kaizala users")] = []
    subscribers: list[Phone] = []
    subscriberCount: Annotated[Count, Field(description="synthetic subscribers to add")] = 0
    parentId: StrictStr | None = None
    tenantId: StrictStr = DEFAULT_TENANT


class DemoSeed(Body):
    """The demo tenant's size: subscribers of its public group."""

    subscribers: Count = demo.DEFAULT_SUBSCRIBERS


class Churn(Body):
    """Members or subscribers to add and remove now, and (``every_seconds`` > 0) again and again in the background
    (``every_seconds`` 0 stops it)."""

    groupId: StrictStr
    kind: Literal["members", "subscribers"]
    add: Count = 0
    remove: Annotated[LenientInt, Field(ge=0)] = 0
    seed: Annotated[int | str | None, BeforeValidator(_seed)] = None
    every_seconds: Annotated[float | None, Field(allow_inf_nan=False)] = None


def connector_json(conn: Connector, refresh: str) -> dict[str, Any]:
    """A created connector with its credentials (the admin API's answer; never logged)."""
    return {
        "applicationId": conn.application_id,
        "applicationSecret": conn.secret,
        "refreshToken": refresh,
        "tenantId": conn.tenant_id,
        "phone": conn.phone,
        "groupId": conn.group_id,
        "name": conn.name,
        "endpointUrl": conn.endpoint + "/",
    }


def group_view(group: Group) -> dict[str, Any]:
    """A group as ``GET /_emulator/groups`` lists it."""
    return {
        "groupId": group.group_id,
        "groupName": group.name,
        "groupType": group.group_type,
        "parentIds": list(group.parents),
        "subGroupIds": list(group.children),
        "memberCount": len(group.members),
        "subscriberCount": len(group.subscribers),
    }


def do_churn(state: State, group_id: str, kind: str, add: int, remove: int, rng: random.Random) -> dict[str, list[str]]:
    """Add ``add`` new and remove ``remove`` random existing members or subscribers of a group (admins and connector
    users are never removed)."""
    group = existing_group(state, group_id)
    added: list[str] = []
    removed: list[str] = []
    if kind == "members":
        protected = {c.phone for c in state.connectors.values()}
        candidates = [p for p, m in group.members.items() if m.role != "Admin" and p not in protected]
        removed = rng.sample(candidates, min(remove, len(candidates)))
        for phone in removed:
            del group.members[phone]
        for _ in range(add):
            phone = state.random_phone(rng, group.members)
            group.members[phone] = Member(phone, "Member")
            added.append(phone)
    else:
        if not group.is_public:
            raise bad_request("Only a ConnectGroup has subscribers")
        subs = group.subscribers
        picks = rng.sample(range(len(subs)), min(remove, len(subs)))
        doomed = sorted((subs[i] for i in picks), reverse=True)
        for n in doomed:
            group.remove_subscriber(n)
        removed = [f"+{n}" for n in sorted(doomed)]
        while len(added) < add:
            n = rng.randint(919600000000, 919999999999)
            if group.add_subscriber(n):
                added.append(f"+{n}")
    return {"added": added, "removed": removed}


async def _churn_forever(
    state: State, group_id: str, kind: str, add: int, remove: int, rng: random.Random, period: float
) -> None:
    while True:
        await asyncio.sleep(period)
        with contextlib.suppress(ApiError):
            do_churn(state, group_id, kind, add, remove, rng)


Handler = TypeVar("Handler", bound=Callable[..., Awaitable[Response]])

ApplicationId = Annotated[str, Path(description="Connector id (`<guid>@2`)")]


def router(services: Services) -> APIRouter:
    """The ``/_emulator`` routes bound to ``services`` (a body without a ``Content-Type`` is read as JSON)."""
    api = APIRouter()
    state = services.state
    faults = services.faults
    control = services.control

    def route(method: str, path: str) -> Callable[[Handler], Handler]:
        """Declare an admin route (pipeline rules of ``services.admin()``, left out of the OpenAPI document)."""
        return api.api_route(path, methods=[method], openapi_extra=admin(), include_in_schema=False)

    def connector(app_id: str | None) -> Connector:
        conn = state.connectors.get(app_id) if app_id is not None else None
        if conn is None:
            raise not_found(f"Connector {app_id} not found")
        return conn

    @route("POST", "/_emulator/reset")
    async def reset() -> Response:
        control.reset()
        return json_response({"result": True})

    @route("GET", "/_emulator/faults")
    async def get_faults() -> Response:
        return json_response(faults.config.to_json())

    @route("POST", "/_emulator/faults")
    async def set_faults(changes: dict[str, Any] | None = None) -> Response:
        try:
            return json_response(faults.update({str(k).lower(): v for k, v in (changes or {}).items()}))
        except FaultConfigError as exc:
            raise bad_request(str(exc)) from exc

    @route("POST", "/_emulator/relocate")
    async def relocate(body: Relocation | None = None) -> Response:
        move = body or Relocation()
        targets = [connector(move.applicationId)] if move.applicationId is not None else list(state.connectors.values())
        if not targets:
            raise bad_request("There is no connector to relocate")
        moved = {c.application_id: control.relocate(c, move.to) + "/" for c in targets}
        return json_response({"endpointUrl": moved[targets[0].application_id], "connectors": moved})

    @route("POST", "/_emulator/expire-tokens")
    async def expire_tokens(body: TokenExpiry | None = None) -> Response:
        app_id = body.applicationId if body is not None else None
        if app_id is not None:
            connector(app_id)
        return json_response({"expired": state.expire_access_tokens(app_id)})

    @route("POST", "/_emulator/clock")
    async def clock(body: ClockAdvance | None = None) -> Response:
        state.clock.offset += (body or ClockAdvance()).advance_seconds
        return json_response({"offset": state.clock.offset, "now": int(state.clock.now() * 1000)})

    @route("POST", "/_emulator/connectors")
    async def create_connector(body: NewConnector | None = None) -> Response:
        new = body or NewConnector()
        if new.groupId is not None:
            existing_group(state, new.groupId)
        conn, refresh = state.create_connector(
            endpoint=control.urls["primary"],
            name=new.name,
            phone=new.phone,
            tenant_id=new.tenantId,
            permissions=new.permissions,
            group_id=new.groupId,
        )
        return json_response(connector_json(conn, refresh))

    @route("DELETE", "/_emulator/connectors/{applicationId}")
    async def delete_connector(applicationId: ApplicationId) -> Response:
        """Delete a connector (as on the portal): its refresh tokens stop working, its access tokens are revoked."""
        state.delete_connector(connector(applicationId).application_id)
        return json_response({"result": True})

    @route("POST", "/_emulator/connectors/{applicationId}/refresh-token")
    async def new_refresh_token(applicationId: ApplicationId) -> Response:
        """A new refresh token for a connector (as on the portal); its previous ones stop working."""
        conn = connector(applicationId)
        return json_response({"refreshToken": state.issue_refresh_token(conn.application_id, replace=True)})

    @route("GET", "/_emulator/pins")
    async def get_pins(
        mobileNumber: Annotated[Phone, Query()], applicationId: Annotated[str, Query(min_length=1)]
    ) -> Response:
        """The emulator's SMS inbox: the live PIN ``generatePin`` sent to a number for a connector."""
        pin = state.pins.get((applicationId, mobileNumber))
        if pin is None or pin.expiry <= state.clock.now():
            raise not_found("No PIN was sent to this number for this connector")
        return json_response({"pin": pin.pin, "expiry": int(pin.expiry * 1000)})

    @route("POST", "/_emulator/groups")
    async def create_group(body: NewGroup | None = None) -> Response:
        body = body or NewGroup()
        subscribers = list(dict.fromkeys(body.subscribers))
        if (body.subscriberCount or subscribers) and body.groupType != "ConnectGroup":
            raise bad_request("Only a ConnectGroup has subscribers")
        if body.parentId is not None:
            existing_group(state, body.parentId)
        admins = list(dict.fromkeys(body.admins))
        group = state.create_group(
            name=body.name or "Group",
            group_type=body.groupType,
            welcome_message=body.welcomeMessage,
            members=list(dict.fromkeys(body.members)),
            admins=admins,
            parent_id=body.parentId,
            tenant_id=body.tenantId or DEFAULT_TENANT,
        )
        for phone in body.unprovisioned:
            state.provisioned[phone] = False
        for phone in admins:
            state.provisioned.setdefault(phone, True)
        state.add_synthetic_subscribers(
            group, body.subscriberCount, random.Random(f"{group.group_id}:{body.subscriberCount}")
        )
        for phone in subscribers:
            group.add_subscriber(phone_int(phone))
        return json_response({"groupId": group.group_id})

    @route("GET", "/_emulator/groups")
    async def list_groups() -> Response:
        return json_response({"groups": [group_view(g) for g in state.groups.values()]})

    @route("GET", "/_emulator/groups/{groupId}/members")
    async def group_members(groupId: GroupId) -> Response:
        return json_response(
            {"members": [member_json(state, m) for m in existing_group(state, groupId).members.values()]}
        )

    @route("GET", "/_emulator/groups/{groupId}/subscribers")
    async def group_subscribers(groupId: GroupId) -> Response:
        subs = existing_group(state, groupId).subscribers
        return json_response({"subscribers": [{"id": user_id(f"+{n}"), "mobileNumber": f"+{n}"} for n in subs]})

    @route("POST", "/_emulator/seed/demo")
    async def seed_demo(body: DemoSeed | None = None) -> Response:
        size = (body or DemoSeed()).subscribers
        return json_response(demo.seed(state, control.urls["primary"], size))

    @route("GET", "/_emulator/calls")
    async def get_calls(since: Annotated[LenientInt, Query()] = 0) -> Response:
        calls = [c for c in control.calls if c["seq"] > since]
        return json_response({"calls": calls, "next": calls[-1]["seq"] if calls else max(since, 0)})

    @route("DELETE", "/_emulator/calls")
    async def clear_calls() -> Response:
        control.calls.clear()
        return json_response({"result": True})

    @route("GET", "/_emulator/messages")
    async def get_messages(groupId: Annotated[str | None, Query()] = None) -> Response:
        msgs = state.messages
        return json_response({"messages": [m.to_json() for m in msgs if groupId is None or m.group_id == groupId]})

    @route("POST", "/_emulator/churn")
    async def churn(body: Churn) -> Response:
        rng = random.Random(body.seed) if body.seed is not None else state.churn_rng
        result: dict[str, Any] = dict(do_churn(state, body.groupId, body.kind, body.add, body.remove, rng))
        key = f"{body.groupId}:{body.kind}"
        if body.every_seconds is not None:
            old = control.background.pop(key, None)
            if old is not None:
                old.cancel()
            if body.every_seconds > 0:
                control.background[key] = asyncio.get_running_loop().create_task(
                    _churn_forever(state, body.groupId, body.kind, body.add, body.remove, rng, body.every_seconds)
                )
        result["background"] = key in control.background
        return json_response(result)

    @route("GET", "/_emulator/openapi.json")
    async def openapi_json(url: EndpointUrl) -> Response:
        """The OpenAPI 3.0 description of the ``/v1`` API, its server being the endpoint that was asked."""
        return json_response(control.openapi_document(url))

    return api
