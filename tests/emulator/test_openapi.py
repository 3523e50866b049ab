"""The OpenAPI description of the emulator: generated from its FastAPI routes, valid OpenAPI 3.0, served, and in step
with the routes."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from airflow_provider_kaizala.emulator.app import EmulatorApp
from airflow_provider_kaizala.emulator.server import KaizalaEmulator
from airflow_provider_kaizala.emulator.services import route_rules

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def openapi_document(server_url: str | None = None) -> dict[str, Any]:
    return EmulatorApp().openapi_document(server_url)


def registered_routes() -> list[tuple[str, str, str]]:
    """``(METHOD, path, kind)`` of every route a fresh app serves."""
    app = EmulatorApp()
    return [(method, r.path, route_rules(r.openapi_extra).kind) for r in app.api.routes for method in r.methods]


def route_key(method: str, path: str) -> tuple[str, tuple[str, ...]]:
    """``(METHOD, segments)`` with literal segments lower-cased as the router matches them."""
    segments = tuple(s if s.startswith("{") else s.lower() for s in path.strip("/").split("/"))
    return method.upper(), segments


def described_operations(doc: dict[str, Any]) -> dict[tuple[str, tuple[str, ...]], dict[str, Any]]:
    return {
        route_key(method, path): op
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in METHODS
    }


def resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return openapi_document("http://127.0.0.1:1")


def test_description_is_valid_openapi_3(doc: dict[str, Any]) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    assert doc["openapi"].startswith("3.0.")
    validator.validate(doc)  # raises on any error (schema, $refs, path parameters)


def test_every_api_route_is_described_and_nothing_else(doc: dict[str, Any]) -> None:
    routes = registered_routes()
    api = {route_key(method, path) for method, path, kind in routes if kind != "admin"}
    admin = {route_key(method, path) for method, path, kind in routes if kind == "admin"}
    described = set(described_operations(doc))
    assert len(api) == 32, sorted(api)
    assert api - described == set(), "routes without a description"
    assert described - api == set(), "described operations the emulator does not serve"
    assert described & admin == set(), "the admin API is not part of the description"
    assert route_key("GET", "/_emulator/openapi.json") in admin


def test_path_parameters_are_declared_once_with_the_router_names(doc: dict[str, Any]) -> None:
    for (_, segments), op in described_operations(doc).items():
        names = sorted(s[1:-1] for s in segments if s.startswith("{"))
        declared = sorted(p["name"] for p in op.get("parameters", ()) if p["in"] == "path")
        assert declared == names, (segments, declared)


def test_security_and_documented_statuses(doc: dict[str, Any]) -> None:
    assert doc["components"]["securitySchemes"]["accessToken"] == {
        "type": "apiKey",
        "in": "header",
        "name": "accessToken",
    }
    assert doc["security"] == [{"accessToken": []}]
    for (method, segments), op in described_operations(doc).items():
        statuses = set(op["responses"])
        assert {"200", "413", "500", "502", "503"} <= statuses, (method, segments)
        if segments == ("v1", "accesstoken"):
            assert op["security"] == []
            assert {"401", "429"} <= statuses
            assert not {"308", "403"} & statuses
        elif segments in (("v1", "generatepin"), ("v1", "loginwithpinandapplicationid")):
            assert op["security"] == []
            assert {"400", "401", "403", "415"} <= statuses
            assert "308" not in statuses
        else:
            assert "security" not in op
            assert {"308", "401", "403", "429"} <= statuses, (method, segments)
        if segments[:2] == ("v1", "media"):
            assert "415" in statuses
        if any(s.startswith("{") for s in segments):
            assert "404" in statuses, (method, segments)


def test_error_bodies_are_the_three_kaizala_fields(doc: dict[str, Any]) -> None:
    for op in described_operations(doc).values():
        for status, response in op["responses"].items():
            if status == "200":
                continue
            body = resolve(doc, resolve(doc, response)["content"]["application/json"]["schema"])
            if status == "308":
                assert set(body["required"]) == {"message", "endpointUrl"}
                assert resolve(doc, response)["headers"]["Location"]["required"] is True
                continue
            assert body["required"] == ["message", "errorCode", "errorCategoryKey"], status
            assert body["additionalProperties"] is False
            if status == "429":
                assert "Retry-After" in resolve(doc, response)["headers"]


def test_the_emulator_serves_the_description_on_both_endpoints(emu: KaizalaEmulator) -> None:
    for base in (emu.url, emu.alt_url):
        resp = requests.get(f"{base}/_emulator/OpenAPI.json", timeout=10)
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"].startswith("application/json")
        served = resp.json()
        assert served["servers"] == [{"url": base}]
        assert served == openapi_document(base)


def test_the_document_is_generated_in_openapi_3_0_terms(doc: dict[str, Any]) -> None:
    """No JSON Schema 2020-12 leftovers (null types, const, numeric exclusive bounds) and no FastAPI 422."""
    text = json.dumps(doc)
    assert '"type": "null"' not in text
    assert '"const"' not in text
    assert '"422"' not in text
    assert "HTTPValidationError" not in text
    ids = [op["operationId"] for op in described_operations(doc).values()]
    assert len(ids) == len(set(ids)), sorted(ids)
    assert all(op.get("tags") for op in described_operations(doc).values())
    assert not any(key.startswith("x-kaizala-kind") for key in text.split('"'))


def test_every_route_declares_its_pipeline_rules_and_success_shape() -> None:
    """Every route says what the pipeline checks (resource/auth/admin) and every API route what it answers."""
    app = EmulatorApp()
    for route in app.api.routes:
        rules = route_rules(route.openapi_extra)  # raises for a route that declared nothing
        if rules.kind == "admin":
            assert not route.include_in_schema, route.path
            continue
        assert route.path.startswith("/v1/"), route.path
        assert route.response_model is not None, (route.path, route.methods)
        if rules.kind == "resource":
            assert rules.permission, route.path
