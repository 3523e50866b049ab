"""Wire helpers shared by every emulator route module: errors, requests, lenient value parsing."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import msgspec
from starlette.responses import Response

from airflow_provider_kaizala.emulator.state import InvalidPhone, normalise_phone, split_phones

if TYPE_CHECKING:
    from airflow_provider_kaizala.emulator.app import EmulatorApp
    from airflow_provider_kaizala.emulator.state import Connector

_decoder = msgspec.json.Decoder()
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


@dataclass
class Reply:
    """A successful (or redirect) answer of a handler."""

    body: Any
    status: int = 200
    headers: list[tuple[bytes, bytes]] | None = None


class Request:
    """One HTTP request as seen by a handler. Header names and JSON/query keys are lower-cased."""

    __slots__ = (
        "_json",
        "_query",
        "app",
        "client",
        "connector",
        "endpoint",
        "headers",
        "method",
        "params",
        "path",
        "query_string",
        "raw_body",
        "segments",
    )

    def __init__(
        self,
        app: EmulatorApp,
        method: str,
        path: str,
        segments: list[str],
        headers: dict[str, str],
        query_string: bytes,
        raw_body: bytes,
        endpoint: str,
    ) -> None:
        self.app = app
        self.method = method
        self.path = path
        self.segments = segments
        self.params: dict[str, str] = {}
        self.headers = headers
        self.query_string = query_string
        self.raw_body = raw_body
        self.endpoint = endpoint
        self.connector: Connector | None = None
        self.client: Any = None  # the ASGI scope's client (host, port)
        self._json: dict[str, Any] | None = None
        self._query: dict[str, str] | None = None

    @property
    def query(self) -> dict[str, str]:
        if self._query is None:
            self._query = {k.lower(): v for k, v in parse_qsl(self.query_string.decode("latin-1"))}
        return self._query

    def json(self) -> dict[str, Any]:
        """The JSON object body with lower-cased top-level keys (``{}`` when empty)."""
        if self._json is None:
            raw = self.raw_body.strip()
            if not raw:
                self._json = {}
            else:
                try:
                    data = _decoder.decode(raw)
                except msgspec.DecodeError as exc:
                    raise bad_request("Request body is not valid JSON") from exc
                if not isinstance(data, dict):
                    raise bad_request("Request body must be a JSON object")
                self._json = ci_dict(data)
        return self._json


def ci_dict(data: dict[str, Any]) -> dict[str, Any]:
    """Lower-case the keys of a JSON object (case-insensitive binding)."""
    return {str(k).lower(): v for k, v in data.items()}


def parse_bool(value: Any, name: str, default: bool = False) -> bool:
    """A real boolean or the strings ``"true"``/``"false"`` (any case); ``None`` gives ``default``."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise bad_request(f"Parameter {name} must be a boolean")


def parse_int(value: Any, name: str) -> int:
    """An integer, or a string of digits; booleans and fractions are rejected."""
    if isinstance(value, bool):
        raise bad_request(f"Parameter {name} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,18}", value.strip()):
        return int(value.strip())
    raise bad_request(f"Parameter {name} must be an integer")


def parse_phone(value: Any) -> str:
    try:
        return normalise_phone(value)
    except InvalidPhone as exc:
        raise bad_request(f"Invalid phone number: {value}") from exc


def parse_phone_list(value: Any, name: str) -> list[str]:
    """A list of valid E.164 numbers (duplicates removed, order kept)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request(f"Parameter {name} must be an array of phone numbers")
    return list(dict.fromkeys(parse_phone(v) for v in value))


def parse_phone_batch(value: Any, name: str) -> tuple[list[str], list[str]]:
    """``(valid numbers, invalid strings)`` of a batch of phone numbers (the API answers per number, so an invalid
    number is an outcome, not a 400); only a value that is not an array of strings is a bad request."""
    if value is None:
        return [], []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad_request(f"Parameter {name} must be an array of phone number strings")
    return split_phones(value)


#: Why a number of a batch was not used (per-number outcome of SU2/SU3, ``failedResult`` of MS1).
REASON_INVALID_PHONE = "InvalidPhoneNumber"


def is_json_content_type(value: str | None) -> bool:
    """Whether a ``Content-Type`` header announces JSON (``application/json``, ``text/json``, ``*/*+json``)."""
    if not value:
        return False
    media_type = value.split(";", 1)[0].strip().lower()
    return media_type in ("application/json", "text/json") or media_type.endswith("+json")


def require_str(body: dict[str, Any], key: str, name: str, *, allow_empty: bool = False) -> str:
    value = body.get(key)
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        raise bad_request(f"Parameter {name} is required and must be a string")
    return value


def ci_deep(value: Any) -> Any:
    """Lower-case the keys of every JSON object inside ``value`` (nested bodies such as ``actionBody``)."""
    if isinstance(value, dict):
        return {str(k).lower(): ci_deep(v) for k, v in value.items()}
    if isinstance(value, list):
        return [ci_deep(v) for v in value]
    return value


def parse_number(value: Any, name: str) -> float | int:
    """A JSON number (or a numeric string); booleans are rejected."""
    if isinstance(value, bool):
        raise bad_request(f"Parameter {name} must be a number")
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            if not math.isfinite(number):
                raise bad_request(f"Parameter {name} must be a finite number")
            return int(number) if number.is_integer() and "." not in value else number
    raise bad_request(f"Parameter {name} must be a number")


def parse_float(value: Any, name: str) -> float:
    """A finite number as a float (coordinates); infinities and numbers beyond float range are rejected."""
    number = parse_number(value, name)
    try:
        result = float(number)
    except OverflowError:
        raise bad_request(f"Parameter {name} is out of range") from None
    if not math.isfinite(result):
        raise bad_request(f"Parameter {name} must be a finite number")
    return result


def iso_ms(ms: int) -> str:
    """Epoch ms as an ISO-8601 UTC string with second precision (``2017-12-20T08:33:51Z``)."""
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: Any, name: str) -> int:
    """An ISO-8601 date-time (``Z`` or an offset; naive = UTC) as epoch ms."""
    if not isinstance(value, str) or not value.strip():
        raise bad_request(f"Parameter {name} is required and must be an ISO-8601 date-time")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        when = dt.datetime.fromisoformat(text)
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        ms = int(when.timestamp() * 1000)
        iso_ms(ms)  # must also be representable on the way out
    except (ValueError, OverflowError, OSError) as exc:
        raise bad_request(f"Parameter {name} must be an ISO-8601 date-time in the calendar's range") from exc
    return ms


Handler = Callable[[Request], "Reply | Awaitable[Reply]"]
