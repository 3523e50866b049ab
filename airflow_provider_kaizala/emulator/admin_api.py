"""The admin API under ``/_emulator`` (no auth, not throttled, not faulted, not in the call log)."""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import TYPE_CHECKING, Any

from airflow_provider_kaizala.emulator import demo
from airflow_provider_kaizala.emulator.faults import FaultConfigError
from airflow_provider_kaizala.emulator.members import member_json
from airflow_provider_kaizala.emulator.openapi import openapi_document
from airflow_provider_kaizala.emulator.routing import Router
from airflow_provider_kaizala.emulator.state import ALL_PERMISSIONS, Member, phone_int, user_id
from airflow_provider_kaizala.emulator.wire import (
    ApiError,
    Reply,
    Request,
    bad_request,
    not_found,
    parse_int,
    parse_phone,
    parse_phone_list,
)

if TYPE_CHECKING:
    from airflow_provider_kaizala.emulator.app import EmulatorApp

MAX_SYNTHETIC = 5_000_000


def reset(req: Request) -> Reply:
    req.app.reset()
    return Reply({"result": True})


def get_faults(req: Request) -> Reply:
    return Reply(req.app.faults.config.to_json())


def set_faults(req: Request) -> Reply:
    try:
        return Reply(req.app.faults.update(req.json()))
    except FaultConfigError as exc:
        raise bad_request(str(exc)) from exc


def relocate(req: Request) -> Reply:
    body = req.json()
    app = req.app
    to = body.get("to")
    if to is not None and (not isinstance(to, str) or not to.startswith(("http://", "https://"))):
        raise bad_request("to must be an http(s) URL")
    app_id = body.get("applicationid")
    if app_id is not None:
        conn = app.state.connectors.get(app_id)
        if conn is None:
            raise not_found(f"Connector {app_id} not found")
        targets = [conn]
    else:
        targets = list(app.state.connectors.values())
    if not targets:
        raise bad_request("There is no connector to relocate")
    moved = {c.application_id: app.relocate(c, to) + "/" for c in targets}
    return Reply({"endpointUrl": moved[targets[0].application_id], "connectors": moved})


def expire_tokens(req: Request) -> Reply:
    app_id = req.json().get("applicationid")
    if app_id is not None and app_id not in req.app.state.connectors:
        raise not_found(f"Connector {app_id} not found")
    return Reply({"expired": req.app.state.expire_access_tokens(app_id)})


def clock(req: Request) -> Reply:
    body = req.json()
    try:
        seconds = float(body.get("advance_seconds", 0))
    except (TypeError, ValueError) as exc:
        raise bad_request("advance_seconds must be a number") from exc
    state = req.app.state
    state.clock.offset += seconds
    return Reply({"offset": state.clock.offset, "now": int(state.clock.now() * 1000)})


def create_connector(req: Request) -> Reply:
    body = req.json()
    app = req.app
    phone = parse_phone(body["phone"]) if body.get("phone") is not None else None
    perms = body.get("permissions")
    if perms is not None and (not isinstance(perms, list) or any(p not in ALL_PERMISSIONS for p in perms)):
        raise bad_request(f"permissions must be a list drawn from {', '.join(ALL_PERMISSIONS)}")
    group_id = body.get("groupid")
    if group_id is not None and group_id not in app.state.groups:
        raise not_found(f"Group {group_id} not found")
    conn, refresh = app.state.create_connector(
        endpoint=app.urls["primary"],
        name=body.get("name"),
        phone=phone,
        tenant_id=body.get("tenantid"),
        permissions=perms,
        group_id=group_id,
    )
    return Reply(connector_json(app, conn.application_id, refresh))


def delete_connector(req: Request) -> Reply:
    """Delete a connector (as on the portal): its refresh tokens stop working, its access tokens are revoked."""
    state = req.app.state
    app_id = req.params["applicationId"]
    if app_id not in state.connectors:
        raise not_found(f"Connector {app_id} not found")
    state.delete_connector(app_id)
    return Reply({"result": True})


def new_refresh_token(req: Request) -> Reply:
    """Generate a new refresh token for a connector (as on the portal); its previous ones stop working."""
    state = req.app.state
    app_id = req.params["applicationId"]
    if app_id not in state.connectors:
        raise not_found(f"Connector {app_id} not found")
    return Reply({"refreshToken": state.issue_refresh_token(app_id, replace=True)})


def get_pins(req: Request) -> Reply:
    """The emulator's SMS inbox: the live PIN sent by ``generatePin`` to a number for a connector."""
    q = req.query
    phone, app_id = q.get("mobilenumber"), q.get("applicationid")
    if not phone or not app_id:
        raise bad_request("Query parameters mobileNumber and applicationId are required")
    pin = req.app.state.pins.get((app_id, parse_phone(phone)))
    if pin is None or pin.expiry <= req.app.state.clock.now():
        raise not_found("No PIN was sent to this number for this connector")
    return Reply({"pin": pin.pin, "expiry": int(pin.expiry * 1000)})


def connector_json(app: EmulatorApp, app_id: str, refresh: str) -> dict[str, Any]:
    conn = app.state.connectors[app_id]
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


def create_group(req: Request) -> Reply:
    body = req.json()
    state = req.app.state
    name = body.get("name") or "Group"
    group_type = body.get("grouptype") or "Group"
    if not isinstance(group_type, str) or group_type.lower() not in ("group", "connectgroup"):
        raise bad_request("groupType must be Group or ConnectGroup")
    group_type = "ConnectGroup" if group_type.lower() == "connectgroup" else "Group"
    admins = parse_phone_list(body.get("admins"), "admins")
    members = parse_phone_list(body.get("members"), "members")
    unprovisioned = parse_phone_list(body.get("unprovisioned"), "unprovisioned")
    explicit_subs = parse_phone_list(body.get("subscribers"), "subscribers")
    count = parse_int(body.get("subscribercount", 0), "subscriberCount")
    if not 0 <= count <= MAX_SYNTHETIC:
        raise bad_request(f"subscriberCount must be between 0 and {MAX_SYNTHETIC}")
    if (count or explicit_subs) and group_type != "ConnectGroup":
        raise bad_request("Only a ConnectGroup has subscribers")
    parent_id = body.get("parentid")
    if parent_id is not None and parent_id not in state.groups:
        raise not_found(f"Group {parent_id} not found")
    group = state.create_group(
        name=str(name),
        group_type=group_type,
        welcome_message=str(body.get("welcomemessage") or ""),
        members=members,
        admins=admins,
        parent_id=parent_id,
        tenant_id=str(body.get("tenantid") or "00000000-0000-4000-8000-000000000001"),
    )
    for phone in unprovisioned:
        state.provisioned[phone] = False
    for phone in admins:
        state.provisioned.setdefault(phone, True)
    state.add_synthetic_subscribers(group, count, random.Random(f"{group.group_id}:{count}"))
    for phone in explicit_subs:
        group.add_subscriber(phone_int(phone))
    return Reply({"groupId": group.group_id})


def list_groups(req: Request) -> Reply:
    state = req.app.state
    return Reply(
        {
            "groups": [
                {
                    "groupId": g.group_id,
                    "groupName": g.name,
                    "groupType": g.group_type,
                    "parentIds": list(g.parents),
                    "subGroupIds": list(g.children),
                    "memberCount": len(g.members),
                    "subscriberCount": len(g.subscribers),
                }
                for g in state.groups.values()
            ]
        }
    )


def _group(req: Request) -> Any:
    group = req.app.state.groups.get(req.params["groupId"])
    if group is None:
        raise not_found(f"Group {req.params['groupId']} not found")
    return group


def group_members(req: Request) -> Reply:
    group = _group(req)
    return Reply({"members": [member_json(req.app.state, m) for m in group.members.values()]})


def group_subscribers(req: Request) -> Reply:
    group = _group(req)
    return Reply({"subscribers": [{"id": user_id(f"+{n}"), "mobileNumber": f"+{n}"} for n in group.subscribers]})


def seed_demo(req: Request) -> Reply:
    body = req.json()
    count = parse_int(body.get("subscribers", demo.DEFAULT_SUBSCRIBERS), "subscribers")
    return Reply(demo.seed(req.app, subscribers=count))


def get_calls(req: Request) -> Reply:
    since = parse_int(req.query.get("since", "0"), "since")
    calls = [c for c in req.app.calls if c["seq"] > since]
    return Reply({"calls": calls, "next": calls[-1]["seq"] if calls else max(since, 0)})


def clear_calls(req: Request) -> Reply:
    req.app.calls.clear()
    return Reply({"result": True})


def get_messages(req: Request) -> Reply:
    gid = req.query.get("groupid")
    msgs = req.app.state.messages
    return Reply({"messages": [m.to_json() for m in msgs if gid is None or m.group_id == gid]})


def openapi_json(req: Request) -> Reply:
    """The OpenAPI 3.0 description of the ``/v1`` API, its server being the endpoint that was asked."""
    return Reply(openapi_document(req.app.urls.get(req.endpoint)))


# -- churn ------------------------------------------------------------------------------------------
def do_churn(
    app: EmulatorApp, group_id: str, kind: str, add: int, remove: int, rng: random.Random
) -> dict[str, list[str]]:
    """Add ``add`` new and remove ``remove`` random existing members or subscribers of a group."""
    state = app.state
    group = state.groups.get(group_id)
    if group is None:
        raise not_found(f"Group {group_id} not found")
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
    elif kind == "subscribers":
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
    else:
        raise bad_request("kind must be members or subscribers")
    return {"added": added, "removed": removed}


def churn(req: Request) -> Reply:
    body = req.json()
    app = req.app
    group_id = body.get("groupid")
    kind = body.get("kind")
    if not isinstance(group_id, str) or kind not in ("members", "subscribers"):
        raise bad_request("groupId and kind (members|subscribers) are required")
    add = parse_int(body.get("add", 0), "add")
    remove = parse_int(body.get("remove", 0), "remove")
    if add < 0 or remove < 0:
        raise bad_request("add and remove must be >= 0")
    seed = body.get("seed")
    rng = random.Random(seed) if seed is not None else app.state.churn_rng
    result = do_churn(app, group_id, kind, add, remove, rng)
    every = body.get("every_seconds")
    key = f"{group_id}:{kind}"
    if every is not None:
        try:
            period = float(every)
        except (TypeError, ValueError) as exc:
            raise bad_request("every_seconds must be a number") from exc
        old = app.background.pop(key, None)
        if old is not None:
            old.cancel()
        if period > 0:
            app.background[key] = asyncio.get_running_loop().create_task(
                _churn_forever(app, group_id, kind, add, remove, rng, period)
            )
    out: dict[str, Any] = dict(result)
    out["background"] = key in app.background
    return Reply(out)


async def _churn_forever(
    app: EmulatorApp, group_id: str, kind: str, add: int, remove: int, rng: random.Random, period: float
) -> None:
    while True:
        await asyncio.sleep(period)
        with contextlib.suppress(ApiError):
            do_churn(app, group_id, kind, add, remove, rng)


def register(router: Router) -> None:
    admin = "admin"
    router.add("POST", "/_emulator/reset", reset, kind=admin)
    router.add("GET", "/_emulator/faults", get_faults, kind=admin)
    router.add("POST", "/_emulator/faults", set_faults, kind=admin)
    router.add("POST", "/_emulator/relocate", relocate, kind=admin)
    router.add("POST", "/_emulator/expire-tokens", expire_tokens, kind=admin)
    router.add("POST", "/_emulator/clock", clock, kind=admin)
    router.add("POST", "/_emulator/connectors", create_connector, kind=admin)
    router.add("DELETE", "/_emulator/connectors/{applicationId}", delete_connector, kind=admin)
    router.add("POST", "/_emulator/connectors/{applicationId}/refresh-token", new_refresh_token, kind=admin)
    router.add("GET", "/_emulator/pins", get_pins, kind=admin)
    router.add("POST", "/_emulator/groups", create_group, kind=admin)
    router.add("GET", "/_emulator/groups", list_groups, kind=admin)
    router.add("GET", "/_emulator/groups/{groupId}/members", group_members, kind=admin)
    router.add("GET", "/_emulator/groups/{groupId}/subscribers", group_subscribers, kind=admin)
    router.add("POST", "/_emulator/seed/demo", seed_demo, kind=admin)
    router.add("GET", "/_emulator/calls", get_calls, kind=admin)
    router.add("DELETE", "/_emulator/calls", clear_calls, kind=admin)
    router.add("GET", "/_emulator/messages", get_messages, kind=admin)
    router.add("POST", "/_emulator/churn", churn, kind=admin)
    router.add("GET", "/_emulator/openapi.json", openapi_json, kind=admin)
