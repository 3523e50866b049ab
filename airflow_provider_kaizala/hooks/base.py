"""What the sync and async Kaizala hooks have in common: the connection attributes, constructor and form.

The connection form has one source, the ``conn-fields`` and ``ui-field-behaviour`` of
:func:`~airflow_provider_kaizala.get_provider_info.get_provider_info`: Airflow 3.2+ reads them from there
without importing the hook, and Airflow 3.0 and 3.1 call ``get_connection_form_widgets`` and
``get_ui_field_behaviour``, which build the same form from the same data.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.sdk import BaseHook

from airflow_provider_kaizala.get_provider_info import get_provider_info
from airflow_provider_kaizala.hooks.token_store import RefreshTokenStore, VariableRefreshTokenStore


def _connection_type() -> dict[str, Any]:
    """The ``kaizala`` entry of the provider's ``connection-types``."""
    (conn,) = get_provider_info()["connection-types"]
    return dict(conn)


def connection_form_widgets() -> dict[str, Any]:
    """The ``conn-fields`` as the WTForms fields Airflow 3.0 and 3.1 expect from ``get_connection_form_widgets``.

    Those versions accept string, integer, password and boolean fields only, so a ``number`` (the rate limit
    window) is a string field there; the hook's configuration parses it either way.
    """
    from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import BooleanField, IntegerField, PasswordField, StringField
    from wtforms.validators import Optional

    widgets: dict[str, Any] = {}
    for name, field in _connection_type()["conn-fields"].items():
        schema = field["schema"]
        kinds = set(schema["type"]) - {"null"}
        kwargs: dict[str, Any] = {"validators": [Optional()], "description": field.get("description", "")}
        if "default" in schema:
            kwargs["default"] = schema["default"]
        label = lazy_gettext(field["label"])
        if schema.get("format") == "password":
            widgets[name] = PasswordField(label, widget=BS3PasswordFieldWidget(), **kwargs)
        elif kinds == {"boolean"}:
            widgets[name] = BooleanField(label, **kwargs)
        elif kinds == {"integer"}:
            widgets[name] = IntegerField(label, widget=BS3TextFieldWidget(), **kwargs)
        else:
            if kwargs.get("default") is not None:
                kwargs["default"] = str(kwargs["default"])
            widgets[name] = StringField(label, widget=BS3TextFieldWidget(), **kwargs)
    return widgets


def ui_field_behaviour() -> dict[str, Any]:
    """The ``ui-field-behaviour`` in the shape of ``get_ui_field_behaviour`` (Airflow 3.0 and 3.1)."""
    conn = _connection_type()
    behaviour = conn["ui-field-behaviour"]
    placeholders = dict(behaviour.get("placeholders", {}))
    for name, field in conn["conn-fields"].items():
        examples = field["schema"].get("examples")
        if examples:
            placeholders.setdefault(name, str(examples[0]))
    return {
        "hidden_fields": list(behaviour.get("hidden-fields", [])),
        "relabeling": dict(behaviour.get("relabeling", {})),
        "placeholders": placeholders,
    }


class KaizalaBaseHook(BaseHook):
    """Base of :class:`~airflow_provider_kaizala.hooks.kaizala.KaizalaHook` and
    :class:`~airflow_provider_kaizala.hooks.async_kaizala.KaizalaAsyncHook`: one connection type, one constructor.

    :param kaizala_conn_id: the ``kaizala`` connection to use.
    :param refresh_token_store: where rotated refresh tokens are persisted (default: an Airflow Variable
        ``kaizala_refresh_token_<conn_id>``, preferred over the connection's own value).
    :param retry_backoff: base of the exponential backoff between retries, in seconds.
    """

    conn_name_attr = "kaizala_conn_id"
    default_conn_name = "kaizala_default"
    conn_type = "kaizala"
    hook_name = "Microsoft Kaizala"

    def __init__(
        self,
        kaizala_conn_id: str = default_conn_name,
        *,
        refresh_token_store: RefreshTokenStore | None = None,
        retry_backoff: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.kaizala_conn_id = kaizala_conn_id
        self.refresh_token_store: RefreshTokenStore = refresh_token_store or VariableRefreshTokenStore()
        self.retry_backoff = retry_backoff

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The extra fields of the connection form (read by Airflow 3.0 and 3.1; 3.2+ reads ``conn-fields``)."""
        return connection_form_widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Hidden, relabelled and placeholder fields of the form (Airflow 3.0 and 3.1; 3.2+ reads the metadata)."""
        return ui_field_behaviour()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Give every hook class the form methods in its own ``__dict__``.

        Airflow 3.0 and 3.1 call them only when the class registered for the connection type defines them
        itself (``"get_connection_form_widgets" in hook_class.__dict__``), not when it inherits them.
        """
        super().__init_subclass__(**kwargs)
        for name in ("get_connection_form_widgets", "get_ui_field_behaviour"):
            if name not in cls.__dict__:
                setattr(cls, name, KaizalaBaseHook.__dict__[name])
