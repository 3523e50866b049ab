"""The emulator's FastAPI application, how the request pipeline (``app.py``) finds and calls its routes, and the
OpenAPI description generated from them.

Matching follows the service: literal path segments match in any case, ids verbatim. :meth:`ApiRoutes.match`
matches the path case-insensitively and rewrites it to the route's declared spelling before FastAPI sees it
(Starlette itself matches case-sensitively); query parameter names are rewritten to their declared spelling the
same way. FastAPI's 422 becomes the API's three-field 400 naming the field.

:meth:`ApiRoutes.openapi_document` is FastAPI's own document of the ``/v1`` routes (the admin routes are left
out), brought to OpenAPI 3.0 (``anyOf`` with ``null`` -> ``nullable``, ``const`` -> ``enum``...) and completed
with what the pipeline answers before a handler runs: the shared three-field error responses, 308, 401, 403,
429, 413, 415 and the injected 5xx, and the ``accessToken`` security scheme.
"""

from __future__ import annotations

import copy
import re
import warnings
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from airflow_provider_kaizala.emulator import (
    actions,
    admin_api,
    auth,
    groups,
    media,
    members,
    messages,
    reactions,
    subscribers,
    webhooks,
)
from airflow_provider_kaizala.emulator.models import validation_error
from airflow_provider_kaizala.emulator.services import ANSWERS, PIPELINE_KEYS, RouteRules, Services, route_rules
from airflow_provider_kaizala.emulator.wire import ApiError, encode_json

_SKIPPED_HEADERS = (b"content-type", b"content-length")

#: Every module serving routes (its ``router(services)``), with its tag in the OpenAPI document.
FAMILIES = (
    (auth, "Auth"),
    (groups, "Groups"),
    (members, "Members"),
    (subscribers, "Subscribers"),
    (messages, "Messages"),
    (media, "Media"),
    (actions, "Actions"),
    (reactions, "Reactions"),
    (webhooks, "Webhooks"),
    (admin_api, "Admin"),
)


def _operation_id(route: APIRoute) -> str:
    """The handler's name (``list_subscribers``) as the operationId."""
    return route.name


@dataclass(frozen=True)
class Matched:
    """A request matched to a FastAPI route: what the pipeline checks before calling it."""

    route: APIRoute
    path: str  # the path as the route declares it (literal segments in their declared case)
    rules: RouteRules
    query_names: Mapping[str, str]  # lower-cased query parameter name -> the name the route declares


def _error_response(err: ApiError) -> Response:
    return Response(
        encode_json(err.body()),
        err.status,
        headers={k.decode(): v.decode() for k, v in err.headers},
        media_type="application/json",
    )


async def _on_api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _error_response(exc)


async def _on_invalid(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return _error_response(validation_error(exc.errors()))


async def _on_http_error(_: Request, exc: Exception) -> Response:
    """Starlette's own errors (a body that is not even text) in the three-field form."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400:
        return _error_response(ApiError(400, "Request body is not valid JSON"))
    return _error_response(ApiError(exc.status_code, str(exc.detail)))


QueryNames = dict[tuple[str, str], dict[str, str]]
#: The query names of the routes, by the (METHOD, path) pairs they were read for: every app of a process has the
#: same routes, and reading them (an OpenAPI generation) is most of an app's start-up.
_QUERY_NAMES: dict[frozenset[tuple[str, str]], QueryNames] = {}


def _query_names(routes: list[APIRoute]) -> QueryNames:
    """``(METHOD, path) -> {lower-cased name: declared name}`` of the query parameters each route declares
    (its dependencies' too), read from FastAPI's public OpenAPI generation (admin routes included), once per
    process and set of routes."""
    key = frozenset((method, route.path) for route in routes for method in route.methods)
    if key not in _QUERY_NAMES:
        _QUERY_NAMES[key] = _read_query_names(routes)
    return _QUERY_NAMES[key]


def _read_query_names(routes: list[APIRoute]) -> QueryNames:
    shown = [copy.copy(route) for route in routes]
    for route in shown:
        route.include_in_schema = True
    with warnings.catch_warnings():  # admin and API handlers may share a name: no operationId is used here
        warnings.simplefilter("ignore", UserWarning)
        paths = get_openapi(title="", version="", routes=shown)["paths"]
    return {
        (method.upper(), path): {
            p["name"].lower(): p["name"] for p in operation.get("parameters", ()) if p.get("in") == "query"
        }
        for path, item in paths.items()
        for method, operation in item.items()
    }


def _declared_query(query: bytes, names: Mapping[str, str]) -> bytes:
    """The query string with every parameter name the route declares in its declared case (names match in any
    case, as on the service) and without blank values (``?showDetail=`` is no value, as on the service)."""
    if not query or not names:
        return query
    pairs = parse_qsl(query.decode("latin-1"))
    return urlencode([(names.get(k.lower(), k), v) for k, v in pairs]).encode("latin-1")


def is_json_content_type(value: str | None) -> bool:
    """Whether a ``Content-Type`` header announces JSON (``application/json``, ``text/json``, ``*/*+json``)."""
    if not value:
        return False
    media_type = value.split(";", 1)[0].strip().lower()
    return media_type in ("application/json", "text/json") or media_type.endswith("+json")


_CONTENT_TYPE = b"content-type"


def _json_announced(headers: list[tuple[bytes, bytes]], rules: RouteRules, body: bytes) -> list[tuple[bytes, bytes]]:
    """The headers FastAPI sees: a JSON route's body announced as ``application/json`` when it came announced as
    any JSON type, or (admin routes only: the pipeline answers 415 for the others) without a ``Content-Type``.
    FastAPI reads a body as JSON only for ``application/json``/``+json`` and, from some version on, never without
    a ``Content-Type``; this keeps what the emulator accepts the same on every FastAPI it supports."""
    if rules.body != "json" or not body.strip():
        return headers
    declared = next((v for k, v in headers if k.lower() == _CONTENT_TYPE), None)
    if declared is not None and not is_json_content_type(declared.decode("latin-1")):
        return headers
    return [*(h for h in headers if h[0].lower() != _CONTENT_TYPE), (_CONTENT_TYPE, b"application/json")]


class ApiRoutes:
    """The FastAPI application of the migrated resource families, with case-insensitive matching."""

    def __init__(self, services: Services) -> None:
        self.app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, generate_unique_id_function=_operation_id)
        for family, tag in FAMILIES:
            # The family's routes themselves, tagged: ``include_router`` copies them on some FastAPI versions and
            # nests the router (so ``app.routes`` no longer lists them) on others.
            routes = family.router(services).routes
            for route in routes:
                if isinstance(route, APIRoute):
                    route.tags = [tag, *route.tags]
            self.app.router.routes.extend(routes)
        self.app.add_exception_handler(ApiError, _on_api_error)
        self.app.add_exception_handler(RequestValidationError, _on_invalid)
        self.app.add_exception_handler(HTTPException, _on_http_error)
        self.routes = [r for r in self.app.routes if isinstance(r, APIRoute)]
        names = _query_names(self.routes)
        self._patterns = [
            (
                re.compile(r.path_regex.pattern, re.IGNORECASE),
                r,
                route_rules(r.openapi_extra),
                {k: v for method in r.methods for k, v in names.get((method, r.path), {}).items()},
            )
            for r in self.routes
        ]

    def match(self, method: str, path: str) -> tuple[Matched | None, bool]:
        """The route for ``method`` + ``path`` (any case in literal segments), and whether the path matched
        another method."""
        path_matched = False
        for pattern, route, rules, query_names in self._patterns:
            found = pattern.match(path)
            if found is None:
                continue
            if method not in route.methods:
                path_matched = True
                continue
            return Matched(route, route.path_format.format(**found.groupdict()), rules, query_names), True
        return None, path_matched

    def openapi_document(self, server_url: str | None = None) -> dict[str, Any]:
        """The generated OpenAPI 3.0 document, its server being ``server_url`` when given."""
        return generate_openapi(self.app, server_url)

    async def call(
        self, scope: dict[str, Any], matched: Matched, body: bytes, state: dict[str, Any]
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        """Run the route; returns (status, body, extra headers). ``state`` is the request's state (``connector``,
        ``endpoint_url``); a token-service handler records its connector there (``services.report_caller``)."""
        inner = {
            **scope,
            "path": matched.path,
            "raw_path": matched.path.encode(),
            "query_string": _declared_query(scope.get("query_string", b""), matched.query_names),
            "headers": _json_announced(scope["headers"], matched.rules, body),
            "root_path": "",
            "state": state,
        }
        sent = False
        reply: dict[str, Any] = {"status": 500, "headers": [], "body": b""}

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                reply["status"] = message["status"]
                reply["headers"] = [(k, v) for k, v in message.get("headers", ()) if k not in _SKIPPED_HEADERS]
            elif message["type"] == "http.response.body":
                reply["body"] += message.get("body", b"")

        await self.app(inner, receive, send)
        return reply["status"], reply["body"], reply["headers"]


# -- the generated OpenAPI description -------------------------------------------------------------------------
OPENAPI_VERSION = "3.0.3"
#: Statuses of the injected-fault switch (``error_statuses``; any 5xx can be configured).
INJECTED_STATUSES = ("500", "502", "503")
DESCRIPTION = """The Kaizala connector API as the emulator serves it (see docs/emulator.md), generated from its routes.

Things JSON Schema cannot say:

- body keys, query-parameter names and the enum values documented as "in any case" match case-insensitively (the
  canonical camelCase names are listed);
- booleans also accept the strings "true"/"false" (any case) and integers digit strings;
- phone-number arrays take any strings: a number that is not valid gets a per-number outcome, not a 400;
- a POST/PUT with a JSON body needs a JSON Content-Type (else 415);
- fields marked "extension" are only sent with the extensions switch;
- every call can be answered 413 and an injected 5xx; a resource call also 401, 308, 429 and 403 (in that order)
  before its handler runs.
"""

_ERROR_CODES: dict[str, tuple[str, list[str], list[str]]] = {
    "400": ("BadRequest", ["InvalidParameters"], ["ValidationException"]),
    "401": ("Unauthorized", ["InvalidToken", "Unauthenticated"], ["AuthException"]),
    "403": ("Forbidden", ["Forbidden"], ["AuthException"]),
    "404": ("NotFound", ["NotFound"], ["ResourceException"]),
    "409": ("Conflict", ["Conflict"], ["ResourceException"]),
    "413": ("PayloadTooLarge", ["RequestEntityTooLarge"], ["ValidationException"]),
    "415": ("UnsupportedMediaType", ["UnsupportedMediaType"], ["ValidationException"]),
    "429": ("TooManyRequests", ["TooManyRequests"], ["ThrottlingException"]),
    "500": ("ServerError", ["InternalServerError"], ["ServerException"]),
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds until a call is allowed again",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
}
_LOCATION = {
    "Location": {
        "description": "the new base URL (scheme, host, port and a single /)",
        "required": True,
        "schema": {"type": "string"},
    }
}


def _error_schema(codes: list[str], categories: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["message", "errorCode", "errorCategoryKey"],
        "properties": {
            "message": {"type": "string"},
            "errorCode": {"type": "string", "enum": codes},
            "errorCategoryKey": {"type": "string", "enum": categories},
        },
        "additionalProperties": False,
    }


def _shared_responses() -> dict[str, Any]:
    """``components.responses``: the three-field error body per status, and the relocation answer."""
    out: dict[str, Any] = {}
    for status, (name, codes, categories) in _ERROR_CODES.items():
        description = ANSWERS.get(int(status), "Injected server error (fault switches)")
        out[name] = {
            "description": description,
            "content": {"application/json": {"schema": _error_schema(codes, categories)}},
        }
    out["TooManyRequests"]["headers"] = _RETRY_AFTER
    out["Relocated"] = {
        "description": "The connector's endpoint moved; repeat the call on the Location base URL",
        "headers": _LOCATION,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["message", "endpointUrl"],
                    "properties": {"message": {"type": "string"}, "endpointUrl": {"type": "string"}},
                    "additionalProperties": False,
                }
            }
        },
    }
    return out


def _to_openapi_30(node: Any) -> Any:
    """A JSON Schema 2020-12 node (what FastAPI and pydantic generate) as an OpenAPI 3.0 schema object."""
    if isinstance(node, list):
        return [_to_openapi_30(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _to_openapi_30(v) for k, v in node.items()}
    for union in ("anyOf", "oneOf"):
        options = out.get(union)
        if isinstance(options, list) and {"type": "null"} in options:
            rest = [o for o in options if o != {"type": "null"}]
            del out[union]
            if len(rest) == 1:
                only = rest[0]
                out.update(only if "$ref" not in only else {"allOf": [only]})
            else:
                out[union] = rest
            out["nullable"] = True
    if "const" in out:
        out["enum"] = [out.pop("const")]
    if isinstance(out.get("examples"), list) and "type" in out:
        examples = out.pop("examples")
        if examples:
            out["example"] = examples[0]
    for bound, flag in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(bound), (int, float)) and not isinstance(out.get(bound), bool):
            out[flag] = out[bound]
            out[bound] = True
    if out.get("contentMediaType") and out.get("type") == "string":
        del out["contentMediaType"]
        out["format"] = "binary"
    return out


def _complete_operation(op: dict[str, Any], kind: str) -> None:
    """Shared error responses by reference, and what the pipeline answers before the handler."""
    responses: dict[str, Any] = op.setdefault("responses", {})
    responses.pop("422", None)
    statuses = {s for s in responses if s != "200"} | {"413"}
    if "requestBody" in op:
        statuses.add("415")
    if kind == "resource":
        statuses |= {"308", "401", "403", "429"}
    else:
        op["security"] = []
    for status in sorted(statuses):
        name = "Relocated" if status == "308" else _ERROR_CODES[status][0]
        responses[status] = {"$ref": f"#/components/responses/{name}"}
    for status in INJECTED_STATUSES:
        responses[status] = {"$ref": "#/components/responses/ServerError"}
    for key in PIPELINE_KEYS:
        op.pop(key, None)


def generate_openapi(app: FastAPI, server_url: str | None) -> dict[str, Any]:
    """The OpenAPI 3.0 document of ``app``'s ``/v1`` routes (see the module docstring)."""
    routes = [r for r in app.routes if isinstance(r, APIRoute) and r.include_in_schema]
    doc = get_openapi(
        title="Kaizala connector API (emulator)",
        version="1.0",
        openapi_version=OPENAPI_VERSION,
        description=DESCRIPTION,
        routes=routes,
        servers=[{"url": server_url.rstrip("/")}] if server_url else None,
    )
    doc = _to_openapi_30(doc)
    kinds = {(m.lower(), r.path): route_rules(r.openapi_extra).kind for r in routes for m in r.methods}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            _complete_operation(op, kinds[method, path])
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    components["responses"] = _shared_responses()
    components["securitySchemes"] = {"accessToken": {"type": "apiKey", "in": "header", "name": "accessToken"}}
    doc["security"] = [{"accessToken": []}]
    return doc
