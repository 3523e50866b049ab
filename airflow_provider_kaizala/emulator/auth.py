"""Token service, served by FastAPI on both endpoints: ``GET /v1/accessToken`` and the PIN login that issues a
user's refresh token (``POST /v1/generatePin``, ``POST /v1/loginWithPinAndApplicationId``).

Annotations are evaluated eagerly: FastAPI reads the parameters declared inside :func:`router` from them.
"""

import secrets
import time
from typing import Annotated

from fastapi import APIRouter, Header
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from starlette.requests import Request
from starlette.responses import Response

from airflow_provider_kaizala.emulator.models import Answer, Body, LenientInt, Phone
from airflow_provider_kaizala.emulator.services import Services, answers, auth, report_caller
from airflow_provider_kaizala.emulator.state import ALL_PERMISSIONS, ROTATION_FRACTION, Connector
from airflow_provider_kaizala.emulator.wire import MSG_BAD_CREDENTIALS, ApiError, forbidden, json_response

MSG_BAD_PIN = "Invalid or expired PIN"


class PinCaller(Body):
    """generatePin body: the connector and its user's number (``applicationSecret`` is checked when given)."""

    mobileNumber: Phone
    applicationId: Annotated[StrictStr, Field(min_length=1)]
    applicationSecret: Annotated[
        StrictStr | None, Field(description="not in the Swagger, sent by some clients: checked when given")
    ] = None


class PinLogin(PinCaller):
    """loginWithPinAndApplicationId body: the caller and the PIN that ``generatePin`` sent."""

    pin: Annotated[LenientInt, Field(description="the one-time PIN (an integer, or its digits as a string)")]


#: The endpoint a connector calls, as the token service answers it.
BaseUrl = Annotated[str, Field(pattern="^https?://.*/$", description="base URL, no /v1")]


class AccessToken(Answer):
    """A1 answer: a new access token, the connector's endpoint, and a rotated refresh token when due."""

    accessToken: Annotated[str, Field(min_length=1)]
    endpointUrl: BaseUrl
    accessTokenExpiry: Annotated[int, Field(description="epoch milliseconds")]
    refreshToken: Annotated[str, Field(description='a new refresh token, or "" when not rotated')]
    scope: Annotated[str, Field(description="comma-separated permissions")]


class PinSent(BaseModel):
    """A2 answer: ``{}`` (the PIN went to the user's phone)."""

    model_config = ConfigDict(extra="forbid")


class RefreshToken(Answer):
    """A3 answer: the user's new refresh token (the connector's previous ones stop working)."""

    refreshToken: Annotated[str, Field(min_length=1)]
    grantedScope: Annotated[str, Field(description="comma-separated permissions")]
    refreshTokenExpiry: Annotated[int, Field(description="epoch milliseconds")]
    endpointUrl: BaseUrl | None = None


def _unauthenticated(message: str = MSG_BAD_CREDENTIALS) -> ApiError:
    return ApiError(401, message, "Unauthenticated", "AuthException")


def granted_scope(conn: Connector) -> str:
    """The connector's permissions as a comma list, in the order of the documented grant."""
    return ",".join(p for p in ALL_PERMISSIONS if p in conn.permissions)


#: A1's own answers: bad credentials, and 429 when the throttle_auth switch throttles the token service too.
TOKEN_ANSWERS = {**answers(401), 429: {"description": "Too many requests (only with the throttle_auth switch)"}}

CredentialHeader = Annotated[str, Header(description="a connector credential (missing: 401, as when wrong)")]


def router(services: Services) -> APIRouter:
    """A1-A3 bound to ``services``."""
    api = APIRouter()
    state = services.state
    faults = services.faults

    def pin_caller(request: Request, body: PinCaller) -> Connector:
        """The connector of a PIN call, once it is known to be the connector of ``body.mobileNumber``'s user."""
        conn = state.connectors.get(body.applicationId)
        if conn is None:
            raise _unauthenticated()
        report_caller(request, conn)
        if body.applicationSecret is not None and not secrets.compare_digest(
            conn.secret.encode(), body.applicationSecret.encode()
        ):
            raise _unauthenticated()
        if body.mobileNumber != conn.phone:
            raise forbidden("The mobile number is not the user of this connector")
        return conn

    @api.get(
        "/v1/accessToken",
        openapi_extra=auth(),
        response_model=AccessToken,
        responses=TOKEN_ANSWERS,
        summary="A1 Get an access token",
    )
    async def get_access_token(
        request: Request,
        applicationId: CredentialHeader = "",
        applicationSecret: CredentialHeader = "",
        refreshToken: CredentialHeader = "",
    ) -> Response:
        conn = state.connectors.get(applicationId)
        if conn is None:
            raise _unauthenticated()
        report_caller(request, conn)  # the call log may name a known connector id (never a secret)
        if not secrets.compare_digest(conn.secret.encode(), applicationSecret.encode()):
            raise _unauthenticated()
        now = state.clock.now()
        rt = state.refresh_tokens.get(refreshToken)
        if rt is None or rt.application_id != applicationId or rt.expiry <= now:
            raise _unauthenticated()
        cfg = faults.config
        if cfg.throttle_auth:
            wait = faults.throttle(conn.application_id, conn.tenant_id, time.monotonic())
            if wait is not None:
                raise ApiError(
                    429,
                    f"Too many requests. Retry after {wait} seconds",
                    headers=[(b"retry-after", str(wait).encode())],
                )
        new_refresh = ""
        if now >= rt.issued + ROTATION_FRACTION * (rt.expiry - rt.issued):
            new_refresh = state.issue_refresh_token(applicationId)
        token, at = state.issue_access_token(applicationId, cfg.access_token_lifetime)
        return json_response(
            {
                "accessToken": token,
                "endpointUrl": conn.endpoint + "/",
                "accessTokenExpiry": int(at.expiry * 1000),
                "refreshToken": new_refresh,
                "scope": granted_scope(conn),
            }
        )

    @api.post(
        "/v1/generatePin",
        openapi_extra=auth(),
        response_model=PinSent,
        responses=answers(400, 401, 403),
        summary="A2 Send a one-time PIN to the connector's user",
        description="The emulator's SMS inbox is GET /_emulator/pins. 403: not the connector's user.",
    )
    async def generate_pin(request: Request, body: PinCaller) -> Response:
        conn = pin_caller(request, body)
        state.send_pin(conn.application_id, body.mobileNumber)
        return json_response({})

    @api.post(
        "/v1/loginWithPinAndApplicationId",
        openapi_extra=auth(),
        response_model=RefreshToken,
        responses=answers(400, 401, 403),
        summary="A3 Exchange the PIN for a new refresh token",
        description="The connector's previous refresh tokens stop working. 401: wrong or expired PIN.",
    )
    async def login_with_pin(request: Request, body: PinLogin) -> Response:
        conn = pin_caller(request, body)
        if not state.use_pin(conn.application_id, body.mobileNumber, body.pin):
            raise _unauthenticated(MSG_BAD_PIN)
        token = state.issue_refresh_token(conn.application_id, replace=True)
        return json_response(
            {
                "refreshToken": token,
                "grantedScope": granted_scope(conn),
                "refreshTokenExpiry": int(state.refresh_tokens[token].expiry * 1000),
                "endpointUrl": conn.endpoint + "/",
            }
        )

    return api
