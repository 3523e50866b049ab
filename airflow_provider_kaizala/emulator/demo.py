"""The demo tenant (``--seed demo`` / ``POST /_emulator/seed/demo``): deterministic groups, members, subscribers."""

from __future__ import annotations

import json
import random
from typing import TYPE_CHECKING, Any

from airflow_provider_kaizala.emulator.state import Group

if TYPE_CHECKING:
    from airflow_provider_kaizala.emulator.app import EmulatorApp

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


def seed(app: EmulatorApp, subscribers: int = DEFAULT_SUBSCRIBERS) -> dict[str, Any]:
    """Create the demo tenant in ``app`` and describe it (including the Airflow connection JSON)."""
    state = app.state
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
    conn, refresh = state.create_connector(
        endpoint=app.urls["primary"], name="demo-connector", phone=ADMIN_PHONE, tenant_id=TENANT_ID
    )
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
        "subscriberCount": len(public.subscribers),
        "conn": airflow_conn(app.urls["primary"], conn.application_id, conn.secret, refresh),
    }


def conn_env_line(conn: dict[str, Any]) -> str:
    return f"AIRFLOW_CONN_KAIZALA_DEFAULT='{json.dumps(conn)}'"
