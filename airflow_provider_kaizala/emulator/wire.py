"""What every emulator route module answers with: JSON (msgspec) and the API's three-field errors."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from starlette.responses import Response

encode_json = msgspec.json.Encoder().encode


def json_response(body: Any, status: int = 200) -> Response:
    """A JSON answer encoded by msgspec (route handlers return this; their ``response_model`` only documents)."""
    return Response(encode_json(body), status, media_type="application/json")


MSG_TOKEN_MISSING = "Token missing. Header should have token as value of ACCESSTOKEN"
MSG_TOKEN_INVALID = "Invalid token. Failure reason:Token validation failed due to unknown reason!"
MSG_BAD_CREDENTIALS = "Dont have correct applicationId and secret in header!"

_DEFAULT_CODES = {
    400: ("InvalidParameters", "ValidationException"),
    401: ("InvalidToken", "AuthException"),
    403: ("Forbidden", "AuthException"),
    404: ("NotFound", "ResourceException"),
    413: ("RequestEntityTooLarge", "ValidationException"),
    415: ("UnsupportedMediaType", "ValidationException"),
    429: ("TooManyRequests", "ThrottlingException"),
}


class ApiError(Exception):
    """An error answered with the 3-field Kaizala error body."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        category: str | None = None,
        headers: list[tuple[bytes, bytes]] | None = None,
        fault: str | None = None,
    ) -> None:
        super().__init__(message)
        self.fault = fault  # call-log fault tag (throttle, relocate, expired) when the error is one
        default_code, default_category = _DEFAULT_CODES.get(status, ("InternalServerError", "ServerException"))
        self.status = status
        self.message = message
        self.code = code or default_code
        self.category = category or default_category
        self.headers = headers or []

    def body(self) -> dict[str, str]:
        return {"message": self.message, "errorCode": self.code, "errorCategoryKey": self.category}


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def forbidden(message: str) -> ApiError:
    return ApiError(403, message)


#: Why a number of a batch was not used (per-number outcome of SU2/SU3, ``failedResult`` of MS1).
REASON_INVALID_PHONE = "InvalidPhoneNumber"


def iso_ms(ms: int) -> str:
    """Epoch ms as an ISO-8601 UTC string with second precision (``2017-12-20T08:33:51Z``)."""
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
