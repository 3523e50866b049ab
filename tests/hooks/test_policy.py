"""Unit tests of the pure transport policy (no I/O)."""

from __future__ import annotations

import random

import pendulum
import pytest

from airflow_provider_kaizala.exceptions import (
    KaizalaAuthError,
    KaizalaBadRequestError,
    KaizalaNotFoundError,
    KaizalaOutcomeUnknownError,
    KaizalaRateLimitError,
    KaizalaRelocationError,
    KaizalaServerError,
)
from airflow_provider_kaizala.hooks.policy import (
    ENDPOINTS,
    AccessToken,
    CallPolicy,
    Done,
    GoneIsDone,
    PolicySettings,
    Relocate,
    RenewToken,
    TransportError,
    Wait,
    api_url,
    endpoint_for,
    host_allowed,
    parse_allowed_hosts,
    parse_retry_after,
    parse_token_response,
    per_number_results,
    relocation_base,
    subscriber_page,
    unwrap_group,
    unwrap_subgroups,
)

NOW = pendulum.datetime(2026, 11, 27, 12, 0, 0)
SETTINGS = PolicySettings(max_retries=2, max_throttle_waits=2, allowed_hosts=("*.kaiza.la", "127.0.0.1"))


def policy(name: str, settings: PolicySettings = SETTINGS) -> CallPolicy:
    return CallPolicy(ENDPOINTS[name], "groups/g@1/x", settings, random.Random(1), clock=lambda: NOW)


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("https://kms-alpha.kaiza.la/", "https://kms-alpha.kaiza.la/v1/groups"),
        (
            "https://inc-000.KaizalaMessaging.osi.office.net",
            "https://inc-000.KaizalaMessaging.osi.office.net/v1/groups",
        ),
        ("https://kms.kaiza.la/v1", "https://kms.kaiza.la/v1/groups"),
        ("https://kms.kaiza.la/v1/", "https://kms.kaiza.la/v1/groups"),
        ("http://127.0.0.1:8080//", "http://127.0.0.1:8080/v1/groups"),
    ],
)
def test_api_url_joins_endpoint_url_and_path(base, expected):
    assert api_url(base, "/groups") == expected


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("https://kms2.kaiza.la/", "https://kms2.kaiza.la/"),
        ("https://kms2.kaiza.la", "https://kms2.kaiza.la/"),
        ("https://kms2.kaiza.la/v1", "https://kms2.kaiza.la/"),
        ("https://kms2.kaiza.la/v1/groups/g@1/subscribers?x=1", "https://kms2.kaiza.la/"),
        ("https://kms2.kaiza.la/other/path", "https://kms2.kaiza.la/"),
        ("/v1/groups/g@1/subscribers", "https://kms1.kaiza.la/"),
        ("http://127.0.0.1:9000/", "http://127.0.0.1:9000/"),
    ],
)
def test_relocation_base(location, expected):
    assert relocation_base(location, "https://kms1.kaiza.la/v1/groups/g@1/subscribers") == expected


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://kms2.kaiza.la/", True),
        ("https://KMS2.Kaiza.La/", True),
        ("https://kaiza.la/", False),
        ("https://evilkaiza.la/", False),
        ("https://kms.kaiza.la.evil.com/", False),
        ("http://kms2.kaiza.la/", False),
        ("http://127.0.0.1:1234/", True),
        ("http://127.0.0.2:1234/", False),
        ("ftp://kms2.kaiza.la/", False),
        ("https:///nohost", False),
    ],
)
def test_host_allowed(url, allowed):
    assert host_allowed(url, ("*.kaiza.la", "127.0.0.1")) is allowed


def test_parse_allowed_hosts_defaults_and_lists():
    assert "*.kaiza.la" in parse_allowed_hosts(None)
    assert parse_allowed_hosts(" A.example.com, ,127.0.0.1 ") == ("a.example.com", "127.0.0.1")
    assert parse_allowed_hosts(["x.kaiza.la"]) == ("x.kaiza.la",)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", 3.0),
        ("0.5", 0.5),
        ("-4", 0.0),
        ("100000", 120.0),
        ("Fri, 27 Nov 2026 12:00:30 GMT", 30.0),
        ("Fri, 27 Nov 2026 11:00:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
    ],
)
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value, NOW, cap=120.0) == expected


def test_token_response_and_renewal_margin():
    expiry_ms = int(NOW.add(hours=24).timestamp() * 1000)
    token, rotated = parse_token_response(
        {
            "accessToken": "SECRET-AT-1",
            "endpointUrl": "https://kms.kaiza.la/",
            "accessTokenExpiry": expiry_ms,
            "refreshToken": "",
        },
        NOW,
    )
    assert rotated is None
    assert token.is_fresh(NOW.add(hours=23, minutes=54).timestamp())
    assert not token.is_fresh(NOW.add(hours=23, minutes=56).timestamp())
    assert "SECRET-AT-1" not in repr(token)
    short, rotated = parse_token_response(
        {
            "accessToken": "at",
            "endpointUrl": "x",
            "accessTokenExpiry": int(NOW.add(seconds=10).timestamp() * 1000),
            "refreshToken": "new-rt",
        },
        NOW,
    )
    assert rotated == "new-rt"
    assert short.is_fresh(NOW.add(seconds=8).timestamp())
    assert not short.is_fresh(NOW.add(seconds=9.5).timestamp())


def test_token_response_without_token_is_an_auth_error():
    with pytest.raises(KaizalaAuthError):
        parse_token_response({"message": "nope"}, NOW)


def test_relocated_token_keeps_value():
    token = AccessToken("t", "https://a.kaiza.la/", NOW, NOW)
    assert token.relocated("https://b.kaiza.la/").endpoint_url == "https://b.kaiza.la/"
    assert token.relocated("https://b.kaiza.la/").token == "t"


def test_success_and_gone_is_done_only_after_a_possible_first_effect():
    assert isinstance(policy("remove_member").on_response(200, {}, {}, "u"), Done)
    first_try = policy("remove_member").on_response(404, {}, {"errorCode": "NotFound"}, "u")
    assert isinstance(first_try.error, KaizalaNotFoundError)
    repeated = policy("remove_member")
    assert isinstance(repeated.on_transport_error(TransportError.TIMEOUT), Wait)
    assert isinstance(repeated.on_response(404, {}, None, "u"), GoneIsDone)


def test_unsafe_call_is_repeated_only_when_provably_not_applied():
    send = policy("send_message")
    assert isinstance(send.on_transport_error(TransportError.CONNECT), Wait)
    assert isinstance(send.on_response(503, {}, None, "u"), Wait)
    assert isinstance(send.on_response(429, {"Retry-After": "1"}, None, "u"), Wait)
    assert isinstance(send.on_response(401, {}, None, "u"), RenewToken)
    for outcome in (
        lambda p: p.on_transport_error(TransportError.TIMEOUT),
        lambda p: p.on_transport_error(TransportError.DROPPED),
        lambda p: p.on_response(500, {}, {"message": "boom"}, "u"),
        lambda p: p.on_response(502, {}, None, "u"),
    ):
        decision = outcome(policy("send_message"))
        assert isinstance(decision.error, KaizalaOutcomeUnknownError)
        assert "send_message" in str(decision.error)


def test_safe_call_retries_with_backoff_then_gives_up():
    listing = policy("list_subscribers")
    assert isinstance(listing.on_transport_error(TransportError.TIMEOUT), Wait)
    assert isinstance(listing.on_response(500, {}, None, "u"), Wait)
    final = listing.on_response(500, {}, {"errorCode": "X", "message": "down"}, "u")
    assert isinstance(final.error, KaizalaServerError)
    assert "HTTP 500" in str(final.error)
    assert "down" in str(final.error)


def test_401_renews_once_then_fails():
    call = policy("list_groups")
    assert isinstance(call.on_response(401, {}, None, "u"), RenewToken)
    assert isinstance(call.on_response(401, {}, {"errorCode": "InvalidToken"}, "u").error, KaizalaAuthError)


def test_token_service_401_is_an_auth_error_at_once():
    assert isinstance(policy("access_token").on_response(401, {}, None, "u").error, KaizalaAuthError)


def test_429_waits_retry_after_then_gives_up():
    call = policy("list_groups")
    first = call.on_response(429, {"Retry-After": "7"}, None, "u")
    assert isinstance(first, Wait)
    assert first.seconds == 7
    second = call.on_response(429, {}, None, "u")
    assert isinstance(second, Wait)
    assert 0 <= second.seconds <= 2
    assert isinstance(call.on_response(429, {"Retry-After": "1"}, None, "u").error, KaizalaRateLimitError)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, KaizalaBadRequestError),
        (403, KaizalaAuthError),
        (404, KaizalaNotFoundError),
        (415, KaizalaBadRequestError),
    ],
)
def test_client_errors_are_typed(status, error):
    decision = policy("list_groups").on_response(status, {}, {"errorCode": "E", "message": "m"}, "u")
    assert isinstance(decision.error, error)
    assert decision.error.status == status


def test_relocation_rules():
    call = policy("send_message")
    first = call.on_response(308, {"Location": "https://kms2.kaiza.la/"}, None, "https://kms1.kaiza.la/v1/x")
    assert first == Relocate("https://kms2.kaiza.la/")
    loop = call.on_response(308, {"Location": "https://kms2.kaiza.la/"}, None, "https://kms3.kaiza.la/v1/x")
    assert isinstance(loop.error, KaizalaRelocationError)
    assert "loop" in str(loop.error)
    refused = policy("list_groups").on_response(308, {"Location": "https://evil.example.com/"}, None, "u")
    assert isinstance(refused.error, KaizalaRelocationError)
    assert "evil.example.com" in str(refused.error)
    plain = policy("list_groups").on_response(308, {"Location": "http://kms2.kaiza.la/"}, None, "u")
    assert isinstance(plain.error, KaizalaRelocationError)
    missing = policy("list_groups").on_response(308, {}, None, "u")
    assert isinstance(missing.error, KaizalaRelocationError)


def test_relocation_hop_limit():
    call = policy("list_groups")
    for n in range(3):
        assert isinstance(call.on_response(308, {"Location": f"https://k{n}.kaiza.la/"}, None, "u"), Relocate)
    assert isinstance(
        call.on_response(308, {"Location": "https://k9.kaiza.la/"}, None, "u").error, KaizalaRelocationError
    )


def test_endpoint_lookup_for_raw_requests():
    assert endpoint_for("post", "/groups/abc@1/subscribers").name == "list_subscribers"
    assert endpoint_for("POST", "groups/abc@1/messages").repeatable is False
    assert endpoint_for("DELETE", "groups/a/members/b").gone_means_done is True
    assert endpoint_for("GET", "unknown/path") is None


def test_endpoint_paths_encode_ids():
    assert ENDPOINTS["get_group"].format_path(group_id="a b@1") == "groups/a%20b@1"


def test_normalisers_accept_every_documented_shape():
    assert unwrap_group({"groups": [{"groupId": "g"}]}) == {"groupId": "g"}
    assert unwrap_group({"groupId": "g"}) == {"groupId": "g"}
    assert unwrap_subgroups({"groups": [{"groupId": "p", "subGroups": [{"groupId": "s"}]}]}, "p") == [{"groupId": "s"}]
    assert unwrap_subgroups({"groupId": "p", "subGroups": [{"groupId": "s"}]}, "p") == [{"groupId": "s"}]
    assert unwrap_subgroups({"groups": [{"groupId": "s1"}, {"groupId": "s2"}]}, "p") == [
        {"groupId": "s1"},
        {"groupId": "s2"},
    ]
    items, cursor = subscriber_page({"subscribers": [{"id": "1", "isProvisioned": "false"}], "cursor": ""})
    assert items == [{"id": "1", "isProvisioned": False}]
    assert cursor is None
    assert subscriber_page({"subscribers": [], "cursor": "c2"}) == ([], "c2")
    assert per_number_results({"result": {"+1": {"isAdded": "true"}, "+2": False}}, "isAdded") == {
        "+1": {"isAdded": True},
        "+2": {"isAdded": False},
    }
