"""Local emulator of the (retired) Microsoft Kaizala connector REST API.

Built from the project's API notes (``docs/api-notes.md``) only; it never imports the provider's client code
(hooks, operators, ...).
Start it with ``kaizala-emulator`` or from Python with :class:`~.server.KaizalaEmulator`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_kaizala.emulator.admin import EmulatorAdmin
    from airflow_provider_kaizala.emulator.server import KaizalaEmulator

__all__ = ["EmulatorAdmin", "KaizalaEmulator"]


def __getattr__(name: str) -> Any:
    if name == "KaizalaEmulator":
        from airflow_provider_kaizala.emulator.server import KaizalaEmulator

        return KaizalaEmulator
    if name == "EmulatorAdmin":
        from airflow_provider_kaizala.emulator.admin import EmulatorAdmin

        return EmulatorAdmin
    raise AttributeError(name)
