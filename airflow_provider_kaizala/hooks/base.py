"""What the sync and async Kaizala hooks have in common: the connection attributes and constructor."""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.sdk import BaseHook

from airflow_provider_kaizala.hooks.token_store import RefreshTokenStore, VariableRefreshTokenStore


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
