"""The demo tenant (``--seed demo`` / ``POST /_emulator/seed/demo``): deterministic groups, members, subscribers."""

from __future__ import annotations

import json
import random
from typing import Any

from airflow_provider_kaizala.emulator.state import Action, ActionResponse, Connector, Group, State
from airflow_provider_kaizala.emulator.wire import iso_ms

DEFAULT_SUBSCRIBERS = 5000
TENANT_ID = "7d3c9a52-0f4e-4b8a-9c61-2e5d8f0a1b3c"
ADMIN_PHONE = "+919810000001"
#: (phone, role, provisioned) of the Field Operations members.
FIELD_TEAM = [
    (ADMIN_PHONE, "Admin", True),
    ("+919810000002", "Admin", True),
    ("+919810000003", "Member", True),
    ("+919810000004", "Member", True),
    ("+919810000005", "Member", False),
    ("+919810000006", "Member", True),
    ("+919810000007", "Member", False),
    ("+919810000008", "Member", True),
]


def airflow_conn(url: str, app_id: str, secret: str, refresh: str) -> dict[str, Any]:
    """The ``AIRFLOW_CONN_KAIZALA_DEFAULT`` value (as a dict) reaching a connector on the emulator at ``url``."""
    return {
        "conn_type": "kaizala",
        "host": f"{url}/v1",
        "login": app_id,
        "password": secret,
        "extra": {"refresh_token": refresh, "allowed_hosts": "127.0.0.1"},
    }


def demo_connector(state: State, primary_url: str) -> tuple[Connector, str]:
    """The demo connector and a live refresh token: the one kept by ``--state-file`` if there is one, else a new one
    on the endpoint ``primary_url``."""
    for app_id in state.kept_connectors:
        conn = state.connectors[app_id]
        if (conn.name, conn.phone, conn.tenant_id, conn.group_id) == ("demo-connector", ADMIN_PHONE, TENANT_ID, None):
            refresh = state.newest_refresh_token(conn.application_id)
            if refresh is not None:
                state.new_guid()  # the id a new connector would have taken: later ids stay as on a fresh start
                return conn, refresh
    return state.create_connector(endpoint=primary_url, name="demo-connector", phone=ADMIN_PHONE, tenant_id=TENANT_ID)


def seed(state: State, primary_url: str, subscribers: int = DEFAULT_SUBSCRIBERS) -> dict[str, Any]:
    """Create the demo tenant in ``state`` (its connector on the endpoint ``primary_url``, the URL its Airflow
    connection reaches) and describe it (including the Airflow connection JSON)."""
    admins = [p for p, role, _ in FIELD_TEAM if role == "Admin"]
    members = [p for p, role, _ in FIELD_TEAM if role == "Member"]
    for phone, _, provisioned in FIELD_TEAM:
        state.provisioned[phone] = provisioned

    def make(
        name: str,
        mem: list[str],
        adm: list[str],
        parent: Group | None = None,
        group_type: str = "Group",
        welcome: str = "",
    ) -> Group:
        return state.create_group(
            name=name,
            group_type=group_type,
            members=mem,
            admins=adm,
            parent_id=parent.group_id if parent else None,
            tenant_id=TENANT_ID,
            welcome_message=welcome or f"Welcome to {name}!",
        )

    field = make("Field Operations", members, admins)
    north = make("North Region", members[:3], [ADMIN_PHONE], field)
    south = make("South Region", members[3:], [ADMIN_PHONE], field)
    delhi = make("Delhi Team", members[:2], [ADMIN_PHONE], north)
    managers = make("Managers", [], admins)
    public = make(
        "Customer Updates",
        [],
        [ADMIN_PHONE],
        group_type="ConnectGroup",
        welcome="Thanks for subscribing to Customer Updates.",
    )
    state.add_synthetic_subscribers(public, subscribers, random.Random(f"demo:{subscribers}"))
    conn, refresh = demo_connector(state, primary_url)
    demo_actions = seed_actions(state, field)
    groups = {g.name: g.group_id for g in (field, north, south, delhi, managers, public)}
    return {
        "tenantId": TENANT_ID,
        "adminPhone": ADMIN_PHONE,
        "connector": {
            "applicationId": conn.application_id,
            "applicationSecret": conn.secret,
            "refreshToken": refresh,
            "tenantId": conn.tenant_id,
            "phone": conn.phone,
        },
        "groups": groups,
        "publicGroupId": public.group_id,
        "actions": demo_actions,
        "subscriberCount": len(public.subscribers),
        "conn": airflow_conn(primary_url, conn.application_id, conn.secret, refresh),
    }


def seed_actions(state: State, group: Group) -> dict[str, str]:
    """A survey with two responses and a job with one completed assignee in ``group``; name -> actionId."""
    now = int(state.clock.now() * 1000)
    day = 24 * 3_600_000
    survey = Action(
        action_id=state.new_guid(),
        reference_id=state.new_guid(),
        group_id=group.group_id,
        action_type="Survey",
        package_id=None,
        body={
            "title": "Site safety check",
            "questions": [
                {"title": "Is the site safe?", "type": "SingleOption", "options": [{"title": "Yes"}, {"title": "No"}]},
                {"title": "Workers on site", "type": "Numeric", "options": []},
                {"title": "Notes", "type": "Text", "options": []},
            ],
            "expiryDate": iso_ms(now + day),
            "expiryMs": now + day,
            "isAnonymous": False,
            "isSenderOnly": False,
            "acceptMultipleResponses": False,
            "properties": [],
        },
        sender=ADMIN_PHONE,
        sent_ms=state.next_action_ms(),
    )
    for phone, answers in (("+919810000003", ["Yes", 12, "All good"]), ("+919810000004", ["No", 4, "Loose cables"])):
        survey.responses.append(
            ActionResponse(state.new_guid(), survey.action_id, phone, answers=answers, created_ms=now, updated_ms=now)
        )
    job = Action(
        action_id=state.new_guid(),
        reference_id=state.new_guid(),
        group_id=group.group_id,
        action_type="Job",
        package_id=None,
        body={
            "title": "Inspect the generator",
            "assignedTo": ["+919810000003", "+919810000006"],
            "dueDate": iso_ms(now + day),
            "dueDateMs": now + day,
        },
        sender=ADMIN_PHONE,
        sent_ms=state.next_action_ms(),
    )
    job.responses.append(
        ActionResponse(
            state.new_guid(), job.action_id, "+919810000003", is_completed=True, created_ms=now, updated_ms=now
        )
    )
    for action in (survey, job):
        state.actions[action.action_id] = action
    return {"survey": survey.action_id, "job": job.action_id}


def conn_env_line(conn: dict[str, Any]) -> str:
    return f"AIRFLOW_CONN_KAIZALA_DEFAULT='{json.dumps(conn)}'"
