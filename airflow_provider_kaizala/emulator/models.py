"""Request models of the emulator's FastAPI routes: case-insensitive keys and lenient values, declared once.

Every body model derives from :class:`Body`, whose one before-validator matches JSON keys to field names in any
case (``Count`` binds ``count``, ``sendtoallsubscribers`` binds the alias ``sendToAllSubscribers``) and treats
``null`` as absent, as the Kaizala service does. Lenient scalars (:data:`PositiveInt`, :data:`LenientBool`)
accept what the service accepts (``7`` and ``"7"``, never ``true`` or ``2.5``; ``"TRUE"``), and their JSON schema
says so. A validation failure becomes the API's three-field 400 naming the field
(:func:`validation_error`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictStr,
    WithJsonSchema,
    model_validator,
)

from airflow_provider_kaizala.emulator.state import InvalidPhone, normalise_phone
from airflow_provider_kaizala.emulator.wire import ApiError, bad_request

_DIGITS = re.compile(r"-?[0-9]{1,18}")


class Body(BaseModel):
    """A JSON object body whose keys bind to the fields in any case; ``null`` values count as absent."""

    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _case_insensitive_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        names = {(info.alias or name).lower(): info.alias or name for name, info in cls.model_fields.items()}
        out: dict[str, Any] = {}
        for key, value in data.items():
            name = names.get(str(key).lower())
            if name is not None and value is not None:
                out[name] = value
        return out


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def lenient_int(value: Any) -> Any:
    """An integer, an integral float or a string of up to 18 digits (any sign) as an int, within 64 bits;
    anything else fails validation."""
    if isinstance(value, bool):
        raise ValueError("must be an integer")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        value = int(value.strip())
    if not isinstance(value, int):
        raise ValueError("must be an integer")
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError("must fit in a 64-bit integer")  # as the service's .NET Int64 fields
    return value


#: An integer that may also come as a string of up to 18 digits (any sign).
LenientInt = Annotated[
    int,
    BeforeValidator(lenient_int),
    WithJsonSchema(
        {
            "oneOf": [
                {"type": "integer", "format": "int64", "minimum": INT64_MIN, "maximum": INT64_MAX},
                {"type": "string", "pattern": r"^\s*-?[0-9]{1,18}\s*$", "description": "digits"},
            ]
        }
    ),
]


#: An integer >= 1 that may also come as a string of up to 18 digits (as the service accepts).
PositiveInt = Annotated[
    int,
    BeforeValidator(lenient_int),
    Field(ge=1),
    WithJsonSchema(
        {
            "oneOf": [
                {"type": "integer", "format": "int64", "minimum": 1, "maximum": INT64_MAX},
                {"type": "string", "pattern": r"^\s*[1-9][0-9]{0,17}\s*$", "description": "digits"},
            ]
        }
    ),
]


def _lenient_bool(value: Any) -> Any:
    """A boolean, or the strings ``"true"``/``"false"`` in any case; anything else fails validation."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError("must be a boolean")


#: A boolean that may also come as the string ``"true"`` or ``"false"`` in any case.
LenientBool = Annotated[
    bool,
    BeforeValidator(_lenient_bool),
    WithJsonSchema(
        {
            "oneOf": [
                {"type": "boolean"},
                {"type": "string", "pattern": r"^\s*([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])\s*$"},
            ]
        }
    ),
]


def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


#: A string with at least one non-space character.
NonBlank = Annotated[
    StrictStr, AfterValidator(_non_blank), WithJsonSchema({"type": "string", "minLength": 1, "pattern": r"\S"})
]

#: An E.164 number as JSON Schema can say it (:data:`Phone` also checks the number plan).
PHONE_PATTERN = r"^\+[1-9][0-9]{6,14}$"


def _phone(value: Any) -> str:
    """A valid E.164 phone number in its canonical form; anything else fails validation."""
    try:
        return normalise_phone(value)
    except InvalidPhone:
        raise ValueError("must be a valid phone number in E.164 form (+<country code><number>)") from None


#: A phone number that must be valid (a single number, not a batch: a batch reports invalid numbers per number).
Phone = Annotated[
    str,
    BeforeValidator(_phone),
    WithJsonSchema({"type": "string", "pattern": PHONE_PATTERN, "description": "E.164 phone number"}),
]

#: A phone number as the API answers it (E.164).
AnsweredPhone = Annotated[str, Field(pattern=PHONE_PATTERN, examples=["+919810000003"])]


def http_host(url: str, wrong_scheme: str = "must be an http(s) URL") -> str | None:
    """The host of an ``http://`` or ``https://`` URL (scheme in any case; ``None`` when it has none); a
    ``ValueError`` with ``wrong_scheme`` for another scheme, and one for a host that cannot be read (an unclosed
    IPv6 bracket...)."""
    if not url.lower().startswith(("http://", "https://")):
        raise ValueError(wrong_scheme)
    try:
        return urlsplit(url).hostname
    except ValueError:
        raise ValueError("is not a valid URL") from None


def _http_url(url: str) -> str:
    http_host(url)
    return url


#: An http(s) URL whose host can be read.
HttpUrl = Annotated[StrictStr, AfterValidator(_http_url), Field(json_schema_extra={"format": "uri"})]


class Answer(BaseModel):
    """Base of the answer models (documentation of what a route answers: handlers return a ``Response``, which
    FastAPI neither validates nor serialises); an answer may carry more fields than it documents."""

    model_config = ConfigDict(extra="allow")


class Result(Answer):
    """``{"result": bool}``: the answer of a change that reports only whether it was done (or fully done)."""

    result: bool


def _any_case_pattern(values: Sequence[str]) -> str:
    return (
        "^("
        + "|".join("".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in v) for v in values)
        + ")$"
    )


def any_case(*values: str) -> Any:
    """A string type that takes one of ``values`` in any case and gives it in its declared spelling (``role``,
    ``groupType``, ``actionType``...); its JSON schema is a case-insensitive pattern."""
    canonical = {v.lower(): v for v in values}
    allowed = ", ".join(values)

    def check(value: Any) -> Any:
        if not isinstance(value, str) or value.lower() not in canonical:
            raise ValueError(f"must be one of {allowed}")
        return canonical[value.lower()]

    schema = {"type": "string", "pattern": _any_case_pattern(values), "description": f"one of {allowed}, in any case"}
    return Annotated[str, BeforeValidator(check), WithJsonSchema(schema)]


def field_path(loc: Sequence[int | str]) -> str:
    """``("body", "actionBody", "questions", 0, "options")`` -> ``actionBody.questions[0].options``."""
    out = ""
    for part in loc:
        if part in ("body", "query", "path", "header") and not out:
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def validation_error(errors: Sequence[Any]) -> ApiError:
    """The 400 for a request that failed validation: the first error, naming its field."""
    first = errors[0] if errors else {}
    kind = first.get("type", "")
    if kind == "json_invalid":
        return bad_request("Request body is not valid JSON")
    name = field_path(first.get("loc", ()))
    if kind == "model_attributes_type" or not name:
        return bad_request("Request body must be a JSON object")
    message = str(first.get("msg", "is invalid")).removeprefix("Value error, ")
    return bad_request(f"Parameter {name}: {message}")
