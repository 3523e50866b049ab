"""Fixtures of the reliability tests: the transfer's warehouses, an SQLite-only warehouse and fault hygiene."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.transfers.conftest import Warehouse, postgres_uri, warehouse  # noqa: F401  (re-exported fixtures)


@pytest.fixture(autouse=True)
def restore_emulator_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    """Put back the emulator's whole fault config after each test that used it.

    The shared ``tenant`` fixture restores only the switches it knows (rates, throttling, relocation, expiry);
    these tests also change ``drop_phase``, ``slow_phase``, ``slow_seconds``, ``error_statuses`` and
    ``fault_seed``, which must not leak into later tests.
    """
    if "emulator" not in request.fixturenames and "tenant" not in request.fixturenames:
        yield
        return
    emulator = request.getfixturevalue("emulator")
    before = emulator.admin.faults()
    yield
    emulator.admin.faults(**before)


@pytest.fixture
def sqlite_warehouse(tmp_path, monkeypatch) -> Warehouse:
    """A fresh SQLite warehouse connection (the fast default runs use SQLite only)."""
    conn_id = f"reliability_wh_{tmp_path.name}".replace("-", "_")
    path = str(tmp_path / "warehouse.db")
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "sqlite", "host": path}))
    return Warehouse(conn_id, "sqlite", path)
