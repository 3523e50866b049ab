"""Token service: ``GET /v1/accessToken`` (reference §2.2), served on both endpoints."""

from __future__ import annotations

import secrets
import time

from airflow_provider_kaizala.emulator.routing import Router
from airflow_provider_kaizala.emulator.state import ROTATION_FRACTION
from airflow_provider_kaizala.emulator.wire import MSG_BAD_CREDENTIALS, ApiError, Reply, Request


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
            "scope": ",".join(sorted(conn.permissions)),
        }
    )


def register(router: Router) -> None:
    router.add("GET", "/v1/accessToken", access_token, kind="auth")
