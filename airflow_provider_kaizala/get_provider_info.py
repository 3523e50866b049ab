"""What Airflow discovers about this provider (entry point ``apache_airflow_provider``).

The connection form is declared here (``conn-fields`` and ``ui-field-behaviour``), the form
Airflow 3.2+ reads without importing the hook; Airflow 3.0 and 3.1 get the same form from the hook's
``get_connection_form_widgets`` / ``get_ui_field_behaviour``, which build it from this data
(:mod:`airflow_provider_kaizala.hooks.base`). Keep this module free of imports: the providers
manager calls it in every Airflow process.
"""

from __future__ import annotations

from typing import Any


def get_provider_info() -> dict[str, Any]:
    """Return the provider's metadata for Airflow's providers manager."""
    return {
        "package-name": "airflow-provider-kaizala",
        "name": "Microsoft Kaizala",
        "description": "Microsoft Kaizala connector REST API: hook, operators, sensor, notifier, "
        "membership transfer and a local Kaizala emulator.",
        "versions": ["0.1.0"],
        "integrations": [
            {
                "integration-name": "Microsoft Kaizala",
                "external-doc-url": "https://learn.microsoft.com/en-us/office365/kaizala/",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Microsoft Kaizala",
                "python-modules": [
                    "airflow_provider_kaizala.hooks.kaizala",
                    "airflow_provider_kaizala.hooks.async_kaizala",
                ],
            }
        ],
        "operators": [
            {
                "integration-name": "Microsoft Kaizala",
                "python-modules": [
                    "airflow_provider_kaizala.operators.groups",
                    "airflow_provider_kaizala.operators.members",
                    "airflow_provider_kaizala.operators.subscribers",
                    "airflow_provider_kaizala.operators.messages",
                    "airflow_provider_kaizala.operators.media",
                    "airflow_provider_kaizala.operators.actions",
                    "airflow_provider_kaizala.operators.reactions",
                    "airflow_provider_kaizala.operators.webhooks",
                    "airflow_provider_kaizala.operators.api",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "Microsoft Kaizala",
                "python-modules": ["airflow_provider_kaizala.sensors.kaizala"],
            }
        ],
        "triggers": [
            {
                "integration-name": "Microsoft Kaizala",
                "python-modules": [
                    "airflow_provider_kaizala.triggers.kaizala",
                    "airflow_provider_kaizala.triggers.webhook",
                ],
            }
        ],
        "transfers": [
            {
                "source-integration-name": "Microsoft Kaizala",
                "target-integration-name": "Common SQL",
                "python-module": "airflow_provider_kaizala.transfers.kaizala_to_sql",
            }
        ],
        "notifications": ["airflow_provider_kaizala.notifications.kaizala.KaizalaNotifier"],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_kaizala.hooks.kaizala.KaizalaHook",
                "hook-name": "Microsoft Kaizala",
                "connection-type": "kaizala",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port"],
                    "relabeling": {
                        "host": "Token service root",
                        "login": "Application ID (Connector ID)",
                        "password": "Application secret",
                    },
                    "placeholders": {
                        "host": "https://api.kaiza.la/v1",
                        "login": "Connector ID from the Kaizala management portal",
                        "password": "Connector secret",
                    },
                },
                "conn-fields": {
                    "refresh_token": {
                        "label": "Refresh token",
                        "schema": {"type": ["string", "null"], "format": "password"},
                        "description": "Refresh token of the connector (group or user token). A rotated "
                        "token, once Kaizala issues one, is kept in the Variable kaizala_refresh_token_<conn id>.",
                    },
                    "timeout": {
                        "label": "Timeout (seconds)",
                        "schema": {"type": ["integer", "null"], "default": 60, "minimum": 1},
                        "description": "Response timeout per call; Kaizala advises 60 seconds.",
                    },
                    "allowed_hosts": {
                        "label": "Relocation allowlist",
                        "schema": {
                            "type": ["string", "null"],
                            "examples": ["*.kaiza.la,*.kaizalamessaging.osi.office.net"],
                        },
                        "description": "Comma-separated host patterns an HTTP 308 may move the endpoint to "
                        "(https only; plain http only for hosts named exactly, such as 127.0.0.1).",
                    },
                    "max_retries": {
                        "label": "Max retries",
                        "schema": {"type": ["integer", "null"], "default": 5, "minimum": 0},
                        "description": "Retries of calls that are safe to repeat, on 5xx and network errors.",
                    },
                    "rate_limit_per_minute": {
                        "label": "Rate limit (calls per minute)",
                        "schema": {"type": ["integer", "null"], "default": 100, "minimum": 1},
                        "description": "Client-side pacing per connector; Kaizala allows 100 calls per minute.",
                    },
                    "rate_limit_window": {
                        "label": "Rate limit window (seconds)",
                        "schema": {"type": ["number", "null"], "default": 60, "exclusiveMinimum": 0},
                        "description": "The window the rate limit counts calls in (default 60, as Kaizala counts); "
                        "shorten it only for an emulator started with a shorter throttle window.",
                    },
                    "verify": {
                        "label": "Verify TLS certificates",
                        "schema": {"type": ["boolean", "null"], "default": True},
                        "description": "Set to false only for a test endpoint with a self-signed certificate.",
                    },
                    "proxies": {
                        "label": "Proxies (JSON)",
                        "schema": {
                            "type": ["string", "null"],
                            "examples": ['{"https": "http://proxy.example.com:3128"}'],
                        },
                        "description": 'requests-style proxies, e.g. {"https": "http://proxy:3128"}.',
                    },
                },
            }
        ],
    }
