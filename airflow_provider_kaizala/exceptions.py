"""Typed errors raised by the Kaizala provider.

Every error derives from :class:`KaizalaException`, itself an ``AirflowException``, so a task that
fails on one is reported like any other Airflow failure. Messages name the HTTP method, the API path
and the status, and the server's ``errorCode`` and ``message`` when it sent them. They never carry a
secret: paths hold group and member ids, never tokens, and request headers are never included.
"""

from __future__ import annotations

from airflow.providers.common.compat.sdk import AirflowException


class KaizalaException(AirflowException):
    """Base class of every Kaizala error.

    :param message: human-readable description.
    :param method: HTTP method of the failed call, when one was made.
    :param path: API path (relative to ``/v1``) of the failed call.
    :param status: HTTP status, when a response arrived.
    :param error_code: the ``errorCode`` of the server's error body.
    :param error_category: the ``errorCategoryKey`` of the server's error body.
    :param server_message: the ``message`` of the server's error body.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        error_code: str | None = None,
        error_category: str | None = None,
        server_message: str | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.error_code = error_code
        self.error_category = error_category
        self.server_message = server_message
        parts = [message]
        if method and path is not None:
            parts.append(f"[{method} /v1/{path.lstrip('/')}" + (f" -> HTTP {status}]" if status else "]"))
        if error_code or server_message:
            parts.append(f"server said {error_code or '-'}: {server_message or '-'}")
        super().__init__(" ".join(parts))


class KaizalaValidationError(KaizalaException, ValueError):
    """A value was rejected before any HTTP call was made (names the field, the value and the rule)."""


class KaizalaAuthError(KaizalaException):
    """The token service refused the credentials, or the API refused the token or a permission."""


class KaizalaNotFoundError(KaizalaException):
    """The group, member, action or webhook does not exist (HTTP 404)."""


class KaizalaBadRequestError(KaizalaException):
    """The server rejected the request body or parameters (HTTP 400, 413, 415 and other 4xx)."""


class KaizalaRateLimitError(KaizalaException):
    """Still throttled (HTTP 429) after the configured number of waits."""


class KaizalaServerError(KaizalaException):
    """The server kept failing (5xx or transport errors) on a call that is safe to repeat."""


class KaizalaRelocationError(KaizalaException):
    """An HTTP 308 relocation was refused: host not allowed, plain http, loop, or too many hops.

    The access token is never sent to a refused host.
    """


class KaizalaOutcomeUnknownError(KaizalaException):
    """A call that is not safe to repeat may or may not have taken effect.

    Raised when, for example, a message send times out after the request was sent: repeating it
    could deliver the message twice, so the hook stops and says so. Check the group before re-running.
    """


class KaizalaResponseError(KaizalaException):
    """The server's answer is not what the endpoint documents: not JSON, the wrong shape or types, larger
    than the body cap, or slower than the per-request deadline. Never read as an empty result."""


class KaizalaPagingError(KaizalaResponseError):
    """A paged walk stopped making progress (a repeated cursor, a page with nothing new) or hit its hard cap."""


class KaizalaLoadConflictError(KaizalaException):
    """Another load of the same warehouse target is running; loads of one target are serialised."""
