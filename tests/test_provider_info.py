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
        "rate_limit_window",
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


def test_rate_limit_window_is_a_connection_field():
    """The hook reads ``rate_limit_window``; the form offers it (issue 16)."""
    (conn,) = get_provider_info()["connection-types"]
    field = conn["conn-fields"]["rate_limit_window"]
    assert field["label"]
    assert field["schema"]["default"] == 60
    assert "number" in field["schema"]["type"]


def _legacy_form() -> tuple[dict, dict]:
    """The hook's form as Airflow 3.0/3.1 read it: the hook methods called under the API server's own stand-ins
    for WTForms and Flask-AppBuilder (``HookMetaService``), then converted by the API server's legacy path."""
    import sys
    from unittest import mock

    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
    from airflow.providers_manager import ConnectionFormWidgetInfo

    from airflow_provider_kaizala.hooks.kaizala import KaizalaHook

    stubs = ["wtforms", "wtforms.validators", "flask_babel", "flask_appbuilder", "flask_appbuilder.fieldwidgets"]
    with (
        mock.patch.dict(sys.modules, {name: mock.MagicMock() for name in stubs}),
        mock.patch("wtforms.StringField", HookMetaService.MockStringField),
        mock.patch("wtforms.IntegerField", HookMetaService.MockIntegerField),
        mock.patch("wtforms.PasswordField", HookMetaService.MockPasswordField),
        mock.patch("wtforms.BooleanField", HookMetaService.MockBooleanField),
        mock.patch("wtforms.validators.Optional", HookMetaService.MockOptional),
        mock.patch("flask_babel.lazy_gettext", str),
        mock.patch("flask_appbuilder.fieldwidgets.BS3TextFieldWidget", HookMetaService.MockAnyWidget),
        mock.patch("flask_appbuilder.fieldwidgets.BS3PasswordFieldWidget", HookMetaService.MockAnyWidget),
    ):
        widgets = KaizalaHook.get_connection_form_widgets()
        behaviour = KaizalaHook.get_ui_field_behaviour()
    infos = {
        f"extra__kaizala__{name}": ConnectionFormWidgetInfo(
            "KaizalaHook", "airflow-provider-kaizala", field, name, False
        )
        for name, field in widgets.items()
    }
    return HookMetaService._convert_extra_fields(infos)["kaizala"], behaviour


def test_hook_methods_give_airflow_3_0_and_3_1_the_declared_form():
    """One source: the legacy form methods (Airflow 3.0/3.1) show exactly the declared ``conn-fields``."""
    from airflow_provider_kaizala.hooks.kaizala import KaizalaHook

    # Airflow 3.0/3.1 call the methods only when the registered class defines them itself.
    assert "get_connection_form_widgets" in KaizalaHook.__dict__
    assert "get_ui_field_behaviour" in KaizalaHook.__dict__
    (conn,) = get_provider_info()["connection-types"]
    extra, behaviour = _legacy_form()
    assert set(extra) == set(conn["conn-fields"])
    for name, declared in conn["conn-fields"].items():
        schema = extra[name]["schema"]
        assert schema["title"] == declared["label"], name
        assert extra[name]["description"] == declared["description"], name
        kinds = set(declared["schema"]["type"]) - {"null"}
        expected = kinds if kinds <= {"string", "integer", "boolean"} else {"string"}  # no number field there
        default = declared["schema"].get("default")
        assert extra[name]["value"] == (str(default) if expected != kinds and default is not None else default), name
        assert set(schema["type"]) - {"null"} == expected, name
        assert schema.get("format") == declared["schema"].get("format"), name
    ui = conn["ui-field-behaviour"]
    assert behaviour["hidden_fields"] == ui["hidden-fields"]
    assert behaviour["relabeling"] == ui["relabeling"]
    assert ui["placeholders"].items() <= behaviour["placeholders"].items()
