"""Unit tests of input validation: every rejection names the field, the value and the rule."""

from __future__ import annotations

import pytest

from airflow_provider_kaizala.exceptions import KaizalaValidationError
from airflow_provider_kaizala.hooks.validation import (
    validate_bool,
    validate_choice,
    validate_id,
    validate_ids,
    validate_message,
    validate_page_size,
    validate_phone_number,
    validate_phone_numbers,
)


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [("+14155552671", "+14155552671"), (" +91 98765 43210 ", "+919876543210"), ("+44 20 7946 0018", "+442079460018")],
)
def test_valid_phone_numbers_are_normalised(raw, normalised):
    assert validate_phone_number(raw) == normalised


@pytest.mark.parametrize(
    "bad",
    [
        "9876543210",
        "+1234",
        "",
        None,
        919876543210,
        "+1 415 555 267x",
        "+0123456789",
        "++14155552671",
        "+1234567890123456",
        "+99912345678",
        "+91 98765 4321O",
    ],
)
def test_invalid_phone_numbers_name_field_and_rule(bad):
    with pytest.raises(KaizalaValidationError) as err:
        validate_phone_number(bad, "members[3]")
    assert "members[3]" in str(err.value)
    assert "E.164" in str(err.value)


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        # The API reference's own sample numbers: possible E.164 numbers that phonenumbers 9.x does not call
        # "valid" for India. Whether they exist is the server's to say (per-number outcomes), not ours.
        ("+911111111111", "+911111111111"),
        ("+91000000000", "+91000000000"),
        ("+91 0000000000", "+910000000000"),
        ("+1 (415) 555-2671", "+14155552671"),
    ],
)
def test_possible_numbers_are_accepted_and_the_server_reports_the_rest(raw, normalised):
    assert validate_phone_number(raw) == normalised


def test_phone_number_lists():
    assert validate_phone_numbers(["+14155552671", "+14155552671", "+919876543210"]) == [
        "+14155552671",
        "+919876543210",
    ]
    with pytest.raises(KaizalaValidationError, match="at least one"):
        validate_phone_numbers([])
    with pytest.raises(KaizalaValidationError, match=r"phone_numbers\[1\]"):
        validate_phone_numbers(["+14155552671", "12"])
    with pytest.raises(KaizalaValidationError, match="at most 1"):
        validate_phone_numbers(["+14155552671", "+919876543210"], max_items=1)


@pytest.mark.parametrize("good", ["df91cb37-97bf-4ccd-a8c2-b2a3ba5eac62@1", "abc", "com.microsoft.kaizala.x.12"])
def test_ids_are_opaque(good):
    assert validate_id(good) == good


@pytest.mark.parametrize("bad", ["", "  ", "a/b", "a b", " a", "a?b", None, 12, "x" * 300, ".", "..", "...", "a\\b"])
def test_bad_ids(bad):
    with pytest.raises(KaizalaValidationError, match="group_id"):
        validate_id(bad, "group_id")


def test_id_lists():
    assert validate_ids(["a", "b", "a"]) == ["a", "b"]
    with pytest.raises(KaizalaValidationError):
        validate_ids([])


@pytest.mark.parametrize("bad", [0, 51, -1, True, "51", "ten", "", 2.5, None])
def test_page_size_bounds(bad):
    with pytest.raises(KaizalaValidationError, match="1 to 50"):
        validate_page_size(bad)
    assert validate_page_size(50) == 50


def test_message_length():
    assert validate_message("x" * 4000) == "x" * 4000
    with pytest.raises(KaizalaValidationError, match="4000"):
        validate_message("x" * 4001)
    with pytest.raises(KaizalaValidationError, match="empty"):
        validate_message("   ")
    with pytest.raises(KaizalaValidationError, match="string"):
        validate_message(42)


def test_choice_and_bool():
    assert validate_choice("connectgroup", "group_type", ["Group", "ConnectGroup"]) == "ConnectGroup"
    with pytest.raises(KaizalaValidationError, match="Group, ConnectGroup"):
        validate_choice("Public", "group_type", ["Group", "ConnectGroup"])
    assert validate_bool("True", "flag") is True
    assert validate_bool(False, "flag") is False
    with pytest.raises(KaizalaValidationError, match="flag"):
        validate_bool("yes", "flag")


@pytest.mark.parametrize("dots", [".", "..", "...."])
def test_dot_segment_ids_are_refused_with_the_reason(dots):
    with pytest.raises(KaizalaValidationError, match="dot") as err:
        validate_id(dots, "action_id")
    assert "action_id" in str(err.value)


def test_a_dot_segment_action_id_never_reaches_the_server(tenant):
    """Before the fix the HTTP client collapsed ``/actions/..`` and the group itself came back."""
    hook = tenant.hook()
    with pytest.raises(KaizalaValidationError, match="action_id"):
        hook.get_action(tenant.group_id, "..")
    with pytest.raises(KaizalaValidationError, match="member_id"):
        hook.remove_member(tenant.group_id, ".")
    assert tenant.calls() == []


MISSING_XCOM = ["None", " None "]
UNRENDERED = ["{{ ti.xcom_pull(task_ids='find') }}", "Hello {{ params.name }}", "{% if x %}a{% endif %}"]


@pytest.mark.parametrize("value", MISSING_XCOM)
@pytest.mark.parametrize(
    ("check", "field"),
    [(validate_id, "group_id"), (validate_message, "message"), (validate_phone_number, "subscribers[0]")],
)
def test_the_text_of_a_missing_xcom_is_refused_with_the_probable_cause(check, field, value):
    with pytest.raises(KaizalaValidationError) as err:
        check(value, field)
    text = str(err.value)
    assert text.startswith(f"Invalid {field}=")
    assert "XCom" in text
    assert "None" in text


@pytest.mark.parametrize("value", UNRENDERED)
@pytest.mark.parametrize(
    ("check", "field"),
    [(validate_id, "group_id"), (validate_message, "message"), (validate_phone_number, "phone_number")],
)
def test_unrendered_templates_are_refused_with_the_probable_cause(check, field, value):
    with pytest.raises(KaizalaValidationError) as err:
        check(value, field)
    text = str(err.value)
    assert text.startswith(f"Invalid {field}=")
    assert "not rendered" in text
    assert "template_fields" in text


def test_missing_xcom_and_unrendered_template_in_number_lists_and_id_lists():
    with pytest.raises(KaizalaValidationError, match="XCom"):
        validate_phone_numbers("None", "subscribers")
    with pytest.raises(KaizalaValidationError, match="not rendered"):
        validate_phone_numbers(["+14155552671", "{{ params.phone }}"], "subscribers")
    with pytest.raises(KaizalaValidationError, match="XCom"):
        validate_ids(["a", "None"], "subgroup_ids")


def test_ordinary_text_that_mentions_none_is_fine():
    assert validate_message("None of the shifts moved") == "None of the shifts moved"
    assert validate_message("Use { and } freely") == "Use { and } freely"


def test_a_single_number_is_a_list_of_one():
    """``.partial(...).expand(subscribers=numbers)`` hands each mapped task one string."""
    assert validate_phone_numbers("+14155552671", "subscribers") == ["+14155552671"]
    assert validate_phone_numbers(" +1 415 555 2671 ", "subscribers") == ["+14155552671"]


@pytest.mark.parametrize("scalar", [14155552671, "hello", "+1415555267x", True])
def test_a_wrong_scalar_explains_mapping_and_jinja(scalar):
    with pytest.raises(KaizalaValidationError) as err:
        validate_phone_numbers(scalar, "subscribers")
    text = str(err.value)
    assert "subscribers" in text
    assert "expand" in text
    assert "render_template_as_native_obj" in text


def test_a_comma_separated_string_is_not_silently_split():
    with pytest.raises(KaizalaValidationError, match="subscribers"):
        validate_phone_numbers("+14155552671,+919876543210", "subscribers")
