"""Token service, served on both endpoints: ``GET /v1/accessToken`` and the PIN login that issues a user's refresh
token (``POST /v1/generatePin``, ``POST /v1/loginWithPinAndApplicationId``)."""

from __future__ import annotations

import secrets
import time

from airflow_provider_kaizala.emulator.routing import Router
from airflow_provider_kaizala.emulator.state import ALL_PERMISSIONS, ROTATION_FRACTION, Connector
from airflow_provider_kaizala.emulator.wire import (
    MSG_BAD_CREDENTIALS,
    ApiError,
    Reply,
    Request,
    bad_request,
    forbidden,
    parse_phone,
)

MSG_BAD_PIN = "Invalid or expired PIN"


def _unauthenticated() -> ApiError:
    return ApiError(401, MSG_BAD_CREDENTIALS, "Unauthenticated", "AuthException")


def access_token(req: Request) -> Reply:
    app = req.app
    state = app.state
    app_id = req.headers.get("applicationid", "")
    secret = req.headers.get("applicationsecret", "")
    refresh = req.headers.get("refreshtoken", "")
    conn = state.connectors.get(app_id)
    if conn is None:
        raise _unauthenticated()
    req.connector = conn  # the call log may name a known connector id (never a secret)
    if not secrets.compare_digest(conn.secret.encode(), secret.encode()):
        raise _unauthenticated()
    now = state.clock.now()
    rt = state.refresh_tokens.get(refresh)
    if rt is None or rt.application_id != app_id or rt.expiry <= now:
        raise _unauthenticated()
    cfg = app.faults.config
    if cfg.throttle_auth:
        wait = app.faults.throttle(conn.application_id, conn.tenant_id, time.monotonic())
        if wait is not None:
            raise ApiError(
                429, f"Too many requests. Retry after {wait} seconds", headers=[(b"retry-after", str(wait).encode())]
            )
    new_refresh = ""
    if now >= rt.issued + ROTATION_FRACTION * (rt.expiry - rt.issued):
        new_refresh = state.issue_refresh_token(app_id)
    token, at = state.issue_access_token(app_id, cfg.access_token_lifetime)
    return Reply(
        {
            "accessToken": token,
            "endpointUrl": conn.endpoint + "/",
            "accessTokenExpiry": int(at.expiry * 1000),
            "refreshToken": new_refresh,
            "scope": granted_scope(conn),
        }
    )


def granted_scope(conn: Connector) -> str:
    """The connector's permissions as a comma list, in the order of the documented grant."""
    return ",".join(p for p in ALL_PERMISSIONS if p in conn.permissions)


def _pin_caller(req: Request) -> tuple[Connector, str]:
    """The connector and user phone of a PIN call; checks the optional ``applicationSecret`` when given."""
    body = req.json()
    app_id, phone = body.get("applicationid"), body.get("mobilenumber")
    if not isinstance(app_id, str) or not app_id or not isinstance(phone, str) or not phone:
        raise bad_request("Parameters mobileNumber and applicationId are required strings")
    phone = parse_phone(phone)
    conn = req.app.state.connectors.get(app_id)
    if conn is None:
        raise _unauthenticated()
    req.connector = conn
    secret = body.get("applicationsecret")  # sent by some clients, not in the Swagger: checked when present
    if secret is not None and not (
        isinstance(secret, str) and secrets.compare_digest(conn.secret.encode(), secret.encode())
    ):
        raise _unauthenticated()
    if phone != conn.phone:
        raise forbidden("The mobile number is not the user of this connector")
    return conn, phone


def generate_pin(req: Request) -> Reply:
    """Send a one-time PIN to the user's phone (the emulator's SMS inbox is ``GET /_emulator/pins``)."""
    conn, phone = _pin_caller(req)
    req.app.state.send_pin(conn.application_id, phone)
    return Reply({})


def login_with_pin(req: Request) -> Reply:
    """Exchange a PIN for a new refresh token; the connector's previous refresh tokens stop working."""
    body = req.json()
    pin = body.get("pin")
    if isinstance(pin, str) and pin.strip().isdigit():
        pin = int(pin.strip())
    if isinstance(pin, bool) or not isinstance(pin, int):
        raise bad_request("Parameter pin is required and must be an integer")
    conn, phone = _pin_caller(req)
    state = req.app.state
    if not state.use_pin(conn.application_id, phone, pin):
        raise ApiError(401, MSG_BAD_PIN, "Unauthenticated", "AuthException")
    token = state.issue_refresh_token(conn.application_id, replace=True)
    return Reply(
        {
            "refreshToken": token,
            "grantedScope": granted_scope(conn),
            "refreshTokenExpiry": int(state.refresh_tokens[token].expiry * 1000),
            "endpointUrl": conn.endpoint + "/",
        }
    )


def register(router: Router) -> None:
    router.add("GET", "/v1/accessToken", access_token, kind="auth")
    router.add("POST", "/v1/generatePin", generate_pin, kind="auth")
    router.add("POST", "/v1/loginWithPinAndApplicationId", login_with_pin, kind="auth")
