"""KaizalaApiOperator: any Kaizala API call, for what the named operators do not cover."""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

from airflow_provider_kaizala.exceptions import KaizalaValidationError
from airflow_provider_kaizala.operators.base import KaizalaBaseOperator, without_secrets

#: Endpoints the generic operator does not call: the token exchange (its answer is a secret) and the
#: multipart media upload (use ``KaizalaUploadMediaOperator``).
NOT_CALLABLE = frozenset({"access_token", "upload_media"})
METHODS = ("GET", "POST", "PUT", "DELETE")


class KaizalaApiOperator(KaizalaBaseOperator):
    """Call any Kaizala API endpoint, by its name in the endpoint table or by method and path.

    The call goes through :class:`~airflow_provider_kaizala.hooks.kaizala.KaizalaHook` like every other
    operator's: access tokens and their renewal, 308 relocation, the rate limit and 429 waits, and retries
    only when the call is safe to repeat. A named endpoint (``endpoint="list_members"``) takes its rules
    from the table; a raw ``method`` + ``path`` below ``/v1/`` takes the rules of the table entry it
    matches, else it is not repeated after an unknown outcome unless ``repeatable=True``.

    :param endpoint: a name of :data:`~airflow_provider_kaizala.hooks.policy.ENDPOINTS`, e.g. ``get_group``
        (templated); or
    :param method: ``GET``, ``POST``, ``PUT`` or ``DELETE`` with
    :param path: the path below ``/v1/``, e.g. ``groups/<group id>/members`` (templated).
    :param path_ids: the ids that fill the named endpoint's path, e.g. ``{"group_id": ...}`` (templated).
    :param payload: the JSON body (templated: a mapping of templated strings, or a whole template rendered
        natively with ``render_template_as_native_obj=True``).
    :param query: query parameters (templated).
    :param repeatable: with ``method`` + ``path`` of a call the table does not know: may it be repeated after
        an unknown outcome (templated; default false).
    :return: the decoded API body (``{}`` when the API answered without one), with any secret (callback,
        access or refresh token) removed.
    """

    endpoint: str | None = None
    method: str | None = None
    path: str | None = None
    path_ids: dict[str, Any] | None = None
    payload: Any = None
    query: dict[str, Any] | None = None
    repeatable: bool | None = None
    template_fields_renderers = {"payload": "json", "query": "json", "path_ids": "json"}

    def call(self, context: Any) -> Any:
        """Make the call; return its body."""
        if (self.endpoint is None) == (self.path is None):
            raise KaizalaValidationError("Invalid call: pass either endpoint, or method and path.")
        if self.endpoint is not None:
            name, ids = self._named()
            self.log.info("Calling Kaizala endpoint %s.", name)
            body = self.hook.call(name, json=self.payload, params=self.query, **ids)
        else:
            method, path = self._raw()
            self.log.info("Calling Kaizala %s %s.", method, path)
            body = self.hook.request(method, path, json=self.payload, params=self.query, repeatable=self.repeatable)
        return without_secrets(body)

    def _named(self) -> tuple[str, dict[str, str]]:
        from airflow_provider_kaizala.hooks.policy import ENDPOINTS
        from airflow_provider_kaizala.hooks.validation import validate_choice, validate_id

        name = validate_choice(self.endpoint, "endpoint", [n for n in ENDPOINTS if n not in NOT_CALLABLE])
        if self.method is not None or self.repeatable is not None:
            raise KaizalaValidationError(
                "Invalid call: method and repeatable go with path; a named endpoint has its own."
            )
        wanted = {field for _, field, _, _ in string.Formatter().parse(ENDPOINTS[name].path) if field}
        given = self.path_ids or {}
        if not isinstance(given, Mapping) or set(given) != wanted:
            raise KaizalaValidationError(
                f"Invalid path_ids={given!r:.80}: endpoint {name} takes a mapping of exactly "
                f"{sorted(wanted) or 'no ids'}."
            )
        return name, {key: validate_id(value, key) for key, value in given.items()}

    def _raw(self) -> tuple[str, str]:
        from airflow_provider_kaizala.hooks.policy import endpoint_for
        from airflow_provider_kaizala.hooks.validation import validate_choice, validate_id

        method = validate_choice(self.method, "method", METHODS)
        if self.path_ids is not None:
            raise KaizalaValidationError("Invalid call: path_ids go with endpoint; put the ids in the path.")
        if not isinstance(self.path, str):
            raise KaizalaValidationError(f"Invalid path={self.path!r}: expected a path below /v1/.")
        path = "/".join(validate_id(segment, "path segment") for segment in self.path.strip("/").split("/"))
        known = endpoint_for(method, path)
        if known is not None and known.name in NOT_CALLABLE:
            raise KaizalaValidationError(f"Invalid path={path!r}: the {known.name} call is not made by this operator.")
        return method, path
