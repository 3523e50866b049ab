"""The provider metadata Airflow discovers is valid and complete."""

from __future__ import annotations

import json
from pathlib import Path

import airflow
import jsonschema

from airflow_provider_kaizala.get_provider_info import get_provider_info


def test_provider_info_matches_airflow_schema():
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_connection_type_declares_fields_and_masks_secrets():
    (conn,) = get_provider_info()["connection-types"]
    assert conn["connection-type"] == "kaizala"
    assert conn["hook-class-name"] == "airflow_provider_kaizala.hooks.kaizala.KaizalaHook"
    fields = conn["conn-fields"]
    assert set(fields) == {
        "refresh_token",
        "timeout",
        "allowed_hosts",
        "max_retries",
        "rate_limit_per_minute",
        "verify",
        "proxies",
    }
    assert fields["refresh_token"]["schema"]["format"] == "password"
    assert fields["timeout"]["schema"]["default"] == 60
    assert all(field.get("label") for field in fields.values())
    assert "schema" in conn["ui-field-behaviour"]["hidden-fields"]


def test_every_registered_class_imports():
    import importlib

    info = get_provider_info()
    names = [conn["hook-class-name"] for conn in info["connection-types"]]
    for section in ("operators", "sensors", "triggers", "transfers", "hooks"):
        for entry in info.get(section, []):
            for module in entry.get("python-modules", [entry.get("python-module")]):
                importlib.import_module(module)
    for name in names + info.get("notifications", []):
        module, _, attr = name.rpartition(".")
        assert getattr(importlib.import_module(module), attr)
