"""Input validation shared by the hook, the operators and the notifier.

Every function either returns the normalised value or raises :class:`KaizalaValidationError` naming
the field, the offending value and the rule, so bad input fails before any HTTP call is made.
``phonenumbers`` is imported on first use, not when a DAG file is parsed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_kaizala.exceptions import KaizalaValidationError

MAX_MESSAGE_LENGTH = 4000
MAX_PAGE_SIZE = 50
MAX_ID_LENGTH = 256
MAX_MEMBERS_AT_CREATION = 100
ROLES = ("Admin", "Member")
_NATIVE_HINT = " (a Jinja template renders to a string unless the DAG sets render_template_as_native_obj=True)"
_SCALAR_HINT = (
    ". When the value comes from mapping (.partial(...).expand(subscribers=numbers)), each mapped task gets "
    "one item of the list, which must itself be one E.164 number or a list of them; when it comes from a "
    "Jinja template, it renders to a string unless the DAG sets render_template_as_native_obj=True"
)
GROUP_TYPES = ("Group", "ConnectGroup")


def _fail(field: str, value: Any, rule: str) -> KaizalaValidationError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return KaizalaValidationError(f"Invalid {field}={shown}: {rule}.")


_UNRENDERED = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
_MISSING_XCOM_RULE = (
    "this is what a missing value renders to (an XCom that was never pushed, a task that returned None, "
    "or a key that does not exist); check the upstream task's return value and the xcom_pull arguments"
)
_UNRENDERED_RULE = (
    "this Jinja template was not rendered: the argument is not one of the operator's template_fields, "
    "or the value was set outside templating (in __init__ or execute, or through an XCom holding template text)"
)


def _refuse_placeholders(field: str, value: str, *, none: bool = True, expected: str = "") -> None:
    """Refuse the text of a missing XCom (``"None"``) and unrendered ``{{ }}`` / ``{% %}`` templates."""
    if none and value.strip() == "None":
        raise _fail(field, value, _MISSING_XCOM_RULE + expected)
    if _UNRENDERED.search(value):
        raise _fail(field, value, _UNRENDERED_RULE + expected)


_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_SEPARATORS = re.compile(r"[\s().-]")
_PHONE_RULE = "expected an E.164 phone number with a leading + and country code, e.g. '+14155550123'"


def validate_phone_number(value: Any, field: str = "phone number") -> str:
    """Return ``value`` in E.164 form, or raise if it is malformed.

    Malformed means: not a string of ``+``, a country code and 7 to 15 digits in all (spaces, dots, hyphens
    and parentheses between the digits are allowed and dropped), a country code that does not exist, or a
    length that is impossible for that country. Whether a well-formed number is *valid* (assigned, in
    service, a mobile) is left to the server, which reports it per number: phone metadata changes between
    releases, and the API reference's own sample numbers (``+911111111111``) are not "valid" in it.
    """
    if isinstance(value, str):
        _refuse_placeholders(field, value, expected=f"; {_PHONE_RULE}")
    if not isinstance(value, str) or not value.strip().startswith("+"):
        raise _fail(field, value, _PHONE_RULE)
    compact = _SEPARATORS.sub("", value)
    if not _E164.fullmatch(compact):
        raise _fail(field, value, f"{_PHONE_RULE}: a + followed by 7 to 15 digits in all, not starting with 0")
    import phonenumbers

    try:
        parsed = phonenumbers.parse(compact, None)
    except phonenumbers.NumberParseException:
        raise _fail(field, value, f"{_PHONE_RULE}; no country uses this country code") from None
    if not phonenumbers.is_possible_number(parsed):
        raise _fail(field, value, f"{_PHONE_RULE}; the number has an impossible length for +{parsed.country_code}")
    return compact


def validate_phone_numbers(values: Any, field: str = "phone_numbers", max_items: int | None = None) -> list[str]:
    """Validate one phone number or a non-empty list of them; return a list, normalised, duplicates removed.

    A single E.164 string is a list of one, so ``.partial(...).expand(subscribers=numbers)`` over single
    numbers works.
    """
    if isinstance(values, str):
        _refuse_placeholders(field, values, expected=f"; {_PHONE_RULE}")
        try:
            return [validate_phone_number(values, field)]
        except KaizalaValidationError as err:
            if "," in values or ";" in values:
                why = "it looks like several numbers joined into one string (pass a list)"
            else:
                why = str(err).split(": ", 1)[-1].rstrip(".")
            raise _fail(
                field, values, f"expected one E.164 phone number or a list of them ({why}){_SCALAR_HINT}"
            ) from None
    if not isinstance(values, Iterable) or isinstance(values, Mapping):
        why = f"not a string but {type(values).__name__}: write the number as '+' and its digits"
        raise _fail(field, values, f"expected one E.164 phone number or a list of them ({why}){_SCALAR_HINT}")
    result: dict[str, None] = {}
    for index, value in enumerate(values):
        result[validate_phone_number(value, f"{field}[{index}]")] = None
    if not result:
        raise _fail(field, values, "expected at least one phone number")
    if max_items is not None and len(result) > max_items:
        raise _fail(field, f"<{len(result)} numbers>", f"at most {max_items} numbers are allowed here")
    return list(result)


def validate_id(value: Any, field: str = "id") -> str:
    """Validate an opaque Kaizala id such as ``'3f2c...e1@1'``: non-empty, no slash, no whitespace, not dots only."""
    if not isinstance(value, str) or not value.strip():
        raise _fail(field, value, "expected a non-empty id string such as '1b4e28ba-2fa1-11d2-883f-0016d3cca427@1'")
    _refuse_placeholders(field, value)
    if value != value.strip() or any(ch.isspace() for ch in value) or any(ch in value for ch in "/\\?#"):
        raise _fail(field, value, "an id may not contain spaces, '/', '\\', '?' or '#'")
    if not value.strip("."):
        raise _fail(field, value, "an id may not consist of dots only ('.' and '..' are path dot-segments)")
    if len(value) > MAX_ID_LENGTH:
        raise _fail(field, value, f"an id is at most {MAX_ID_LENGTH} characters")
    return value


def validate_ids(values: Any, field: str = "ids") -> list[str]:
    """Validate a non-empty list of ids; duplicates removed, order kept."""
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise _fail(field, values, f"expected a list of ids, not a single string or scalar{_NATIVE_HINT}")
    result = {validate_id(value, f"{field}[{index}]"): None for index, value in enumerate(values)}
    if not result:
        raise _fail(field, values, "expected at least one id")
    return list(result)


def validate_page_size(value: Any, field: str = "page_size") -> int:
    """Validate a subscriber page size: an integer from 1 to 50 (a rendered template's digits are accepted)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PAGE_SIZE:
        raise _fail(field, value, f"expected an integer from 1 to {MAX_PAGE_SIZE}")
    return value


def validate_text(value: Any, field: str, max_length: int, *, allow_empty: bool = False) -> str:
    """Validate a string of at most ``max_length`` characters (non-blank unless ``allow_empty``)."""
    if not isinstance(value, str):
        raise _fail(field, value, f"expected a string of at most {max_length} characters")
    _refuse_placeholders(field, value, none=False)
    if not allow_empty and not value.strip():
        raise _fail(field, value, "may not be empty")
    if len(value) > max_length:
        raise _fail(field, f"<{len(value)} characters>", f"at most {max_length} characters are allowed")
    return value


def validate_message(value: Any, field: str = "message") -> str:
    """Validate a text message: 1 to 4000 characters, not the text of a missing XCom or an unrendered template."""
    if isinstance(value, str):
        _refuse_placeholders(field, value)
    return validate_text(value, field, MAX_MESSAGE_LENGTH)


def validate_choice(value: Any, field: str, allowed: Iterable[str]) -> str:
    """Validate that ``value`` is one of ``allowed`` (case-insensitive); return the canonical spelling."""
    options = list(allowed)
    if isinstance(value, str):
        for option in options:
            if option.lower() == value.lower():
                return option
    raise _fail(field, value, f"expected one of {', '.join(options)}")


def validate_bool(value: Any, field: str) -> bool:
    """Validate a boolean; the strings 'true' and 'false' (any case) are accepted, as templates render them."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise _fail(field, value, "expected true or false")


def audience(subscribers: Any, send_to_all_subscribers: Any) -> dict[str, Any]:
    """The recipients part of a message or action body: the group, chosen subscribers, or all subscribers."""
    if validate_bool(send_to_all_subscribers, "send_to_all_subscribers"):
        if subscribers is not None:
            raise KaizalaValidationError(
                "Invalid subscribers: pass either subscribers or send_to_all_subscribers=True, not both."
            )
        return {"sendToAllSubscribers": True}
    if subscribers is not None:
        return {"subscribers": validate_phone_numbers(subscribers, "subscribers")}
    return {}


def message_body(message: Any, subscribers: Any, send_to_all_subscribers: Any) -> dict[str, Any]:
    """The validated body of a text message to a group, to chosen subscribers, or to all subscribers."""
    return {"message": validate_message(message), **audience(subscribers, send_to_all_subscribers)}
