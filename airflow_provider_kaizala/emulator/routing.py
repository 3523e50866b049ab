"""A tiny case-insensitive router: literal path segments match in any case, ``{params}`` match verbatim."""

from __future__ import annotations

from dataclasses import dataclass

from airflow_provider_kaizala.emulator.wire import Handler

#: Route kinds: ``auth`` (token service), ``resource`` (needs an access token), ``admin`` (``/_emulator``).
KINDS = ("auth", "resource", "admin")


@dataclass(frozen=True)
class Route:
    """One (method, path pattern) -> handler binding."""

    method: str
    pattern: tuple[str, ...]  # lower-case literals or "{name}"
    handler: Handler
    kind: str = "resource"
    permission: str | None = None
    body: str | None = None  # "json" (Content-Type must announce JSON), "multipart" (checked by the handler), None


class Router:
    """Routes indexed by segment count; matching is linear within that bucket (a handful of routes)."""

    def __init__(self) -> None:
        self._by_len: dict[int, list[Route]] = {}

    def add(
        self,
        method: str,
        path: str,
        handler: Handler,
        *,
        kind: str = "resource",
        permission: str | None = None,
        body: str | None = None,
    ) -> None:
        """Bind ``method`` + ``path``; POST/PUT routes take a JSON body unless ``body`` says otherwise."""
        if kind not in KINDS:
            raise ValueError(kind)
        pattern = tuple(s if s.startswith("{") else s.lower() for s in path.strip("/").split("/"))
        method = method.upper()
        if body is None and method in ("POST", "PUT"):
            body = "json"
        route = Route(method, pattern, handler, kind, permission, body)
        self._by_len.setdefault(len(pattern), []).append(route)

    def match(self, method: str, segments: list[str]) -> tuple[Route | None, dict[str, str], bool]:
        """The route for ``method`` + ``segments``, its params, and whether the path matched another method."""
        path_matched = False
        lowered = [s.lower() for s in segments]
        for route in self._by_len.get(len(segments), ()):
            params: dict[str, str] = {}
            for pat, seg, low in zip(route.pattern, segments, lowered, strict=True):
                if pat[0] == "{":
                    params[pat[1:-1]] = seg
                elif pat != low:
                    break
            else:
                if route.method == method:
                    return route, params, True
                path_matched = True
        return None, {}, path_matched
