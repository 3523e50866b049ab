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


@pytest.mark.parametrize("bad", ["9876543210", "+1234", "+91 0000000000", "", None, 919876543210, "+1 415 555 267x"])
def test_invalid_phone_numbers_name_field_and_rule(bad):
    with pytest.raises(KaizalaValidationError) as err:
        validate_phone_number(bad, "members[3]")
    assert "members[3]" in str(err.value)
    assert "E.164" in str(err.value)


def test_phone_number_lists():
    assert validate_phone_numbers(["+14155552671", "+14155552671", "+919876543210"]) == [
        "+14155552671",
        "+919876543210",
    ]
    with pytest.raises(KaizalaValidationError, match="at least one"):
        validate_phone_numbers([])
    with pytest.raises(KaizalaValidationError, match="not a single string"):
        validate_phone_numbers("+14155552671")
    with pytest.raises(KaizalaValidationError, match=r"phone_numbers\[1\]"):
        validate_phone_numbers(["+14155552671", "12"])
    with pytest.raises(KaizalaValidationError, match="at most 1"):
        validate_phone_numbers(["+14155552671", "+919876543210"], max_items=1)


@pytest.mark.parametrize("good", ["df91cb37-97bf-4ccd-a8c2-b2a3ba5eac62@1", "abc", "com.microsoft.kaizala.x.12"])
def test_ids_are_opaque(good):
    assert validate_id(good) == good


@pytest.mark.parametrize("bad", ["", "  ", "a/b", "a b", " a", "a?b", None, 12, "x" * 300])
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
