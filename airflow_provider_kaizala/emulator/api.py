"""The resource families served by FastAPI, and how the request pipeline (``app.py``) finds and calls them.

Matching follows the service: literal path segments match in any case, ids verbatim. :meth:`ApiRoutes.match`
matches the path case-insensitively and rewrites it to the route's declared spelling before FastAPI sees it
(Starlette itself matches case-sensitively). FastAPI's 422 becomes the API's three-field 400 naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import FastAPI
from fastapi.dependencies.utils import get_flat_dependant
from fastapi.exceptions import RequestValidationError
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
from airflow_provider_kaizala.emulator.services import RouteRules, Services, route_rules
from airflow_provider_kaizala.emulator.wire import ApiError, encode_json

_SKIPPED_HEADERS = (b"content-type", b"content-length")

#: Every module serving routes: a ``router(services)`` (FastAPI) or, not yet migrated, a ``register(router)``.
FAMILIES = (auth, groups, media, actions, reactions, webhooks, members, messages, subscribers, admin_api)


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


def _query_names(route: APIRoute) -> dict[str, str]:
    return {f.alias.lower(): f.alias for f in get_flat_dependant(route.dependant).query_params}


def _declared_query(query: bytes, names: Mapping[str, str]) -> bytes:
    """The query string with every parameter name the route declares in its declared case (names match in any
    case, as on the service); other parameters are kept as they came."""
    if not query or not names:
        return query
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    return urlencode([(names.get(k.lower(), k), v) for k, v in pairs]).encode("latin-1")


class ApiRoutes:
    """The FastAPI application of the migrated resource families, with case-insensitive matching."""

    def __init__(self, services: Services) -> None:
        self.app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
        for family in FAMILIES:
            if hasattr(family, "router"):
                self.app.include_router(family.router(services))
        self.app.add_exception_handler(ApiError, _on_api_error)
        self.app.add_exception_handler(RequestValidationError, _on_invalid)
        self.app.add_exception_handler(HTTPException, _on_http_error)
        self.routes = [r for r in self.app.routes if isinstance(r, APIRoute)]
        self._patterns = [
            (re.compile(r.path_regex.pattern, re.IGNORECASE), r, route_rules(r.openapi_extra), _query_names(r))
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
