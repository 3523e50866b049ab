"""The base of every Kaizala operator: declared arguments, one coercion rule, one result contract.

An operator declares its arguments once, as annotated class attributes (a default makes one optional)::

    class KaizalaGetGroupOperator(KaizalaBaseOperator):
        group_id: str

        def call(self, context: Any) -> dict[str, Any]:
            return self.hook.get_group(self.group_id)

From that the base builds the constructor (keyword-only, with the real signature, so Airflow's
``default_args``, ``partial`` and missing-argument errors work as for a hand-written one) and
``template_fields`` (``kaizala_conn_id`` and every declared argument). Unannotated class attributes are
constants, not arguments.
"""

from __future__ import annotations

import inspect
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from airflow.providers.common.compat.sdk import BaseOperator, mask_secret

from airflow_provider_kaizala.exceptions import KaizalaValidationError
from airflow_provider_kaizala.hooks.kaizala import KaizalaHook
from airflow_provider_kaizala.hooks.mixin import KaizalaHookMixin
from airflow_provider_kaizala.hooks.validation import validate_bool

_REQUIRED = inspect.Parameter.empty
#: Keys of API bodies that hold secrets: masked in logs and never returned (see :func:`without_secrets`).
SECRET_KEYS = frozenset({"callbacktoken", "accesstoken", "refreshtoken", "applicationsecret"})


@dataclass(frozen=True)
class Argument:
    """One declared operator argument: its name, default (``inspect.Parameter.empty`` when required) and type."""

    name: str
    default: Any
    annotation: str

    @property
    def types(self) -> set[str]:
        """The names joined by ``|`` in the annotation, e.g. ``{"int", "None"}``."""
        return {part.strip() for part in self.annotation.split("|")}


def coerce(value: Any, argument: Argument) -> Any:
    """The one coercion rule for rendered template values (documented in ``docs/operators/index.rst``).

    * an argument typed ``bool`` takes a bool or the strings ``"true"``/``"false"`` (any case);
    * an argument typed ``int`` takes an int or a string of digits;
    * an optional number or flag (default ``None``) takes ``""`` as "not given";
    * everything else is passed on unchanged: strings stay strings (``""`` too), and lists and mappings are
      never parsed from a string (render them natively with ``render_template_as_native_obj=True``).

    The hook's validation then checks the values; this only turns template strings into the declared types.
    """
    types = argument.types
    if not isinstance(value, str):
        if "int" in types and isinstance(value, bool):
            raise KaizalaValidationError(f"Invalid {argument.name}={value!r}: expected a whole number.")
        return value
    if value == "" and argument.default is None and types <= {"int", "bool", "None"}:
        return None
    if "bool" in types:
        return validate_bool(value, argument.name)
    if "int" in types:
        text = value.strip()
        if not (text.isascii() and text.isdigit()):
            raise KaizalaValidationError(f"Invalid {argument.name}={value!r:.80}: expected a whole number.")
        return int(text)
    return value


def mask(value: Any) -> None:
    """Mask a secret in the task logs (a no-op for ``None`` and ``""``)."""
    if isinstance(value, str) and value:
        mask_secret(value)


def without_secrets(value: Any) -> Any:
    """``value`` with every secret-holding key (callback, access and refresh tokens...) masked and removed."""
    if isinstance(value, dict):
        kept = {}
        for key, item in value.items():
            if str(key).lower() in SECRET_KEYS:
                mask(item)
                continue
            kept[key] = without_secrets(item)
        return kept
    if isinstance(value, list):
        return [without_secrets(item) for item in value]
    return value


def outcome(verb: str, reason: str | None = None) -> dict[str, Any]:
    """The result part of a change that is safe to repeat: ``{verb: True, "reason": None}`` when it happened,
    ``{verb: False, "reason": reason}`` when there was nothing to do (e.g. ``NotFound``)."""
    return {verb: reason is None, "reason": reason}


def _declared(cls: type) -> dict[str, Argument]:
    """The arguments declared by ``cls`` and its Kaizala bases, the bases' first."""
    arguments: dict[str, Argument] = {}
    for klass in reversed(cls.__mro__):
        if not (isinstance(klass, type) and issubclass(klass, KaizalaBaseOperator)):
            continue
        for name, annotation in inspect.get_annotations(klass).items():
            text = str(annotation)
            if name.startswith("_") or name == "template_fields" or text.startswith(("ClassVar", "typing.ClassVar")):
                continue
            arguments[name] = Argument(name, vars(klass).get(name, _REQUIRED), text)
    return arguments


def _constructor(cls: type[KaizalaBaseOperator]) -> Callable[..., None]:
    def __init__(self: KaizalaBaseOperator, **kwargs: Any) -> None:
        KaizalaBaseOperator._set_arguments(self, **kwargs)

    parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    parameters += [
        inspect.Parameter(arg.name, inspect.Parameter.KEYWORD_ONLY, default=arg.default, annotation=arg.annotation)
        for arg in cls.arguments.values()
    ]
    parameters.append(inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD, annotation="Any"))
    __init__.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    __init__.__doc__ = cls.__doc__
    return __init__


class KaizalaBaseOperator(KaizalaHookMixin, BaseOperator):
    """Base class of the Kaizala operators: declared arguments, rendered, coerced, then one hook call.

    Subclasses declare their arguments as annotated class attributes and implement :meth:`call`, which
    returns the operator's result (see "Results" in the operators documentation). :meth:`execute` first
    applies :func:`coerce` to every argument.

    :param kaizala_conn_id: the ``kaizala`` connection to use (templated).
    """

    kaizala_conn_id: str = KaizalaHook.default_conn_name
    ui_color = "#e8e1f5"
    template_fields: Sequence[str] = ("kaizala_conn_id",)
    #: The declared arguments by name (built for each subclass).
    arguments: ClassVar[dict[str, Argument]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.arguments = _declared(cls)
        # A subclass that writes its own constructor or template_fields keeps them.
        if "template_fields" not in vars(cls):
            cls.template_fields = tuple(cls.arguments)
        if "__init__" not in vars(cls):
            cls.__init__ = _constructor(cls)  # type: ignore[method-assign]

    def __init__(self, *, kaizala_conn_id: str = KaizalaHook.default_conn_name, **kwargs: Any) -> None:
        self._set_arguments(kaizala_conn_id=kaizala_conn_id, **kwargs)

    def _set_arguments(self, **kwargs: Any) -> None:
        values = {name: kwargs.pop(name, arg.default) for name, arg in self.arguments.items()}
        missing = sorted(name for name, value in values.items() if value is _REQUIRED)
        if missing:
            raise TypeError(f"missing keyword argument(s) {', '.join(map(repr, missing))}")
        super(KaizalaHookMixin, self).__init__(**kwargs)
        for name, value in values.items():
            setattr(self, name, value)

    def execute(self, context: Any) -> Any:
        """Coerce the rendered arguments (:func:`coerce`), then make the call."""
        for name, argument in self.arguments.items():
            setattr(self, name, coerce(getattr(self, name), argument))
        return self.call(context)

    def call(self, context: Any) -> Any:
        """Make the operator's call(s) with the coerced arguments and return its result."""
        raise NotImplementedError


KaizalaBaseOperator.arguments = _declared(KaizalaBaseOperator)


class KaizalaAudienceOperator(KaizalaBaseOperator):
    """Base of the operators that post to a group or to subscribers of a public group (messages, media, actions).

    :param group_id: the group (templated).
    :param subscribers: deliver only to these subscribers of a public group (templated).
    :param send_to_all_subscribers: deliver to every subscriber of a public group (templated).
    """

    group_id: str
    subscribers: list[str] | None = None
    send_to_all_subscribers: bool = False

    @property
    def audience(self) -> dict[str, Any]:
        """The audience arguments as the hook takes them."""
        return {"subscribers": self.subscribers, "send_to_all_subscribers": self.send_to_all_subscribers}


class KaizalaListOperator(KaizalaBaseOperator):
    """Base of the operators that return a list: ``count`` and ids, the items with ``return_list``, a file with
    ``output_path``.

    :param output_path: write every item as JSON Lines to this path or ``ObjectStoragePath`` (templated).
    :param return_list: return every item in XCom, for short lists only (templated).
    """

    output_path: Any = None
    return_list: bool = False

    def listing(
        self,
        items: Iterable[dict[str, Any]],
        key: str,
        ids: str | None = None,
        id_of: Callable[[dict[str, Any]], Any] | None = None,
        shape: Callable[[dict[str, Any]], Any] | None = None,
    ) -> dict[str, Any]:
        """Walk ``items`` once: ``{"count"}``, plus ``key`` (the items, each through ``shape``) with
        ``return_list`` or else ``ids`` (each item's ``id_of``), plus ``path`` with ``output_path``."""
        from airflow_provider_kaizala.storage import write_json_lines

        kept: list[Any] = []
        found: list[Any] = []
        count = 0

        def rows() -> Iterator[dict[str, Any]]:
            nonlocal count
            for item in items:
                count += 1
                if self.return_list:
                    kept.append(shape(item) if shape else item)
                elif ids and id_of:
                    found.append(id_of(item))
                yield item

        result: dict[str, Any] = {}
        if self.output_path:
            result["path"], _ = write_json_lines(self.output_path, rows())
        else:
            deque(rows(), maxlen=0)
        result["count"] = count
        if self.return_list:
            result[key] = kept
        elif ids:
            result[ids] = found
        return result
