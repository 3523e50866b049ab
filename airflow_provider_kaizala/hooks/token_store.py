"""Durable storage for rotated Kaizala refresh tokens.

From about day 328 of a refresh token's 365-day life, every token response carries a new refresh
token; a client that does not keep it stops working when the old one expires. The hook stores the
rotated value in a :class:`RefreshTokenStore` and prefers it over the connection's own value.

The default store is an Airflow Variable named ``kaizala_refresh_token_<conn_id>``: Variables are
writable from a running task in Airflow 3 (through the task execution API), are Fernet-encrypted in
the metadata database when a Fernet key is set, and their values are masked in logs because the key
contains ``token``.
"""

from __future__ import annotations

import logging
from typing import Protocol

log = logging.getLogger(__name__)


class RefreshTokenStore(Protocol):
    """Where rotated refresh tokens are kept."""

    def describe(self, conn_id: str) -> str:
        """Where the token of ``conn_id`` goes, for log messages (never the value)."""
        ...

    def get(self, conn_id: str) -> str | None:
        """The stored refresh token of ``conn_id``, or None."""
        ...

    def set(self, conn_id: str, token: str) -> None:
        """Persist a rotated refresh token of ``conn_id``."""
        ...


class VariableRefreshTokenStore:
    """Keeps rotated refresh tokens in the Airflow Variable ``kaizala_refresh_token_<conn_id>``."""

    prefix = "kaizala_refresh_token_"

    def key(self, conn_id: str) -> str:
        """The Variable key for ``conn_id``."""
        return f"{self.prefix}{conn_id}"

    def describe(self, conn_id: str) -> str:
        """Where the token goes."""
        return f"Airflow Variable '{self.key(conn_id)}'"

    def get(self, conn_id: str) -> str | None:
        """Read the Variable; None when it is absent or Variables cannot be read in this process."""
        from airflow.providers.common.compat.sdk import Variable

        try:
            value = Variable.get(self.key(conn_id), default=None)
        except Exception as err:  # no metadata access here (e.g. a bare script): fall back to the connection
            log.debug("Cannot read %s (%s); using the connection's token.", self.key(conn_id), type(err).__name__)
            return None
        return str(value) if value else None

    def set(self, conn_id: str, token: str) -> None:
        """Write the Variable."""
        from airflow.providers.common.compat.sdk import Variable

        Variable.set(self.key(conn_id), token, description=f"Rotated Kaizala refresh token of connection {conn_id}")


class MemoryRefreshTokenStore:
    """Keeps rotated refresh tokens in memory only (tests, or short-lived scripts)."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}

    def describe(self, conn_id: str) -> str:
        """Where the token goes."""
        return "process memory (not durable)"

    def get(self, conn_id: str) -> str | None:
        """The token kept for ``conn_id``."""
        return self.tokens.get(conn_id)

    def set(self, conn_id: str, token: str) -> None:
        """Keep the token for ``conn_id``."""
        self.tokens[conn_id] = token


def persist_rotated_refresh_token(store: RefreshTokenStore, conn_id: str, token: str) -> None:
    """Store a rotated refresh token; log where it went (never the value), or that it could not be stored."""
    where = store.describe(conn_id)
    try:
        store.set(conn_id, token)
    except Exception as err:
        log.error(
            "Kaizala rotated the refresh token of connection %s but it could not be stored in %s (%s). "
            "Update the connection's refresh_token before the old token expires.",
            conn_id,
            where,
            type(err).__name__,
        )
    else:
        log.warning(
            "Kaizala rotated the refresh token of connection %s; the new token was stored in %s and "
            "will be used from now on (the connection's own value is now stale).",
            conn_id,
            where,
        )
