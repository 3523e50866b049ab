"""The request-model helpers of the FastAPI routes: field paths in messages, keys in any case, lenient integers."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from airflow_provider_kaizala.emulator.messages import MessageBody
from airflow_provider_kaizala.emulator.models import field_path, validation_error
from airflow_provider_kaizala.emulator.subscribers import SubscriberPage


def test_field_path_names_nested_fields_as_the_api_spells_them():
    assert field_path(("body", "actionBody", "questions", 0, "options")) == "actionBody.questions[0].options"
    assert field_path(("body", "count")) == "count"
    assert field_path(("query", "cursor")) == "cursor"


def test_keys_bind_in_any_case_and_null_is_absent():
    assert SubscriberPage.model_validate({"COUNT": "7", "Cursor": None}).model_dump() == {"cursor": "", "count": 7}


@pytest.mark.parametrize("bad", [0, -1, 2.5, "abc", True, "1e3"])
def test_integers_are_lenient_only_as_the_service_is(bad):
    with pytest.raises(ValidationError) as info:
        SubscriberPage.model_validate({"count": bad})
    err = validation_error(info.value.errors())
    assert err.status == 400
    assert err.message.startswith("Parameter count: ")


def test_booleans_are_lenient_and_aliases_bind_in_any_case():
    assert MessageBody.model_validate({"MESSAGE": "m", "sendtoallsubscribers": " TRUE "}).send_to_all is True
    assert MessageBody.model_validate({"message": "m", "sendToAllSubscribers": None}).send_to_all is False
    for bad in (1, "yes", [True]):
        with pytest.raises(ValidationError):
            MessageBody.model_validate({"message": "m", "sendToAllSubscribers": bad})
