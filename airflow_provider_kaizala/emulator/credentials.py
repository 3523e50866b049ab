"""``--state-file``: keep connector credentials (ids, secrets, refresh tokens) across emulator restarts.

The file mirrors the live credentials: it is rewritten (atomically, mode 0600) whenever a connector is created or
deleted and whenever a refresh token is issued or invalidated, and read once at start-up. Groups, messages and the
rest of the state are not kept. The file holds secrets: keep it out of version control.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from airflow_provider_kaizala.emulator.state import ALL_PERMISSIONS, Connector, RefreshToken, State

VERSION = 1


class StateFileError(ValueError):
    """The state file cannot be read as emulator credentials (the message names the file, never a secret)."""


def dump(state: State) -> dict[str, Any]:
    """The credentials of ``state`` as JSON-able data."""
    return {
        "version": VERSION,
        "connectors": [
            {
                "applicationId": c.application_id,
                "applicationSecret": c.secret,
                "name": c.name,
                "tenantId": c.tenant_id,
                "phone": c.phone,
                "permissions": [p for p in ALL_PERMISSIONS if p in c.permissions],
                "groupId": c.group_id,
            }
            for c in state.connectors.values()
        ],
        "refreshTokens": [
            {"refreshToken": t, "applicationId": rt.application_id, "issued": rt.issued, "expiry": rt.expiry}
            for t, rt in state.refresh_tokens.items()
        ],
    }


def load(state: State, data: Any, endpoint: str, source: str = "state file") -> int:
    """Add the saved connectors and refresh tokens to ``state`` (their endpoint: ``endpoint``); returns the count."""
    try:
        if not isinstance(data, dict) or data.get("version") != VERSION:
            raise TypeError("unknown format version")
        loaded = 0
        for item in data["connectors"]:
            conn = Connector(
                application_id=str(item["applicationId"]),
                secret=str(item["applicationSecret"]),
                name=str(item["name"]),
                tenant_id=str(item["tenantId"]),
                phone=str(item["phone"]),
                permissions={p for p in item["permissions"] if p in ALL_PERMISSIONS},
                group_id=item.get("groupId"),
                endpoint=endpoint,
            )
            state.connectors[conn.application_id] = conn
            state.kept_connectors.append(conn.application_id)
            loaded += 1
        for item in data["refreshTokens"]:
            app_id = str(item["applicationId"])
            if app_id in state.connectors:
                state.refresh_tokens[str(item["refreshToken"])] = RefreshToken(
                    app_id, float(item["issued"]), float(item["expiry"])
                )
    except (KeyError, TypeError, ValueError) as exc:
        raise StateFileError(f"{source} does not hold emulator credentials ({type(exc).__name__})") from None
    return loaded


class CredentialStore:
    """Saves the credentials of a :class:`State` to ``path`` whenever they change (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def attach(self, state: State, endpoint: str) -> int:
        """Load what the file holds into ``state`` (if it exists), then keep the file up to date; returns the
        number of connectors loaded."""
        loaded = 0
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise StateFileError(f"cannot read {self.path}: {type(exc).__name__}") from None
            loaded = load(state, data, endpoint, str(self.path))
        state.on_credentials = lambda: self.save(state)
        self.save(state)
        return loaded

    def save(self, state: State) -> None:
        """Write the file atomically, readable by its owner only."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".kaizala-emulator-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(dump(state), f, indent=1)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
