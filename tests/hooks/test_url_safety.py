"""Where the access token may go (issue 12, points 1 and 2): one strict parser decides, and the URL used is rebuilt.

Each hostile answer is served over real HTTP by a fake Kaizala on loopback; forged URLs point at a
:func:`~tests.hooks.hostile.trap` listener, which must never see a connection.
"""

from __future__ import annotations

import logging

import pytest

from airflow_provider_kaizala.exceptions import KaizalaRelocationError, KaizalaValidationError
from airflow_provider_kaizala.hooks.config import KaizalaConnectionConfig
from airflow_provider_kaizala.hooks.kaizala import KaizalaHook
from airflow_provider_kaizala.hooks.policy import (
    DEFAULT_ALLOWED_HOSTS,
    check_endpoint_url,
    host_allowed,
    parse_url,
    relocation_base,
)
from tests.hooks.hostile import ACCESS_TOKEN, FakeKaizala, Handler, Seen, fake_hook, serve, trap

pytestmark = pytest.mark.usefixtures("fresh_tokens")

#: Forged URLs; ``{trap}`` is the port of a listener that records connections.
FORGED = [
    "https://localhost:{trap}\\@kms.kaiza.la/",  # requests connects to localhost:{trap}, urlsplit sees kms.kaiza.la
    "https://localhost:{trap}\\.kaiza.la/",
    "https://localhost\\.kaiza.la:{trap}/",
    "https://localhost:{trap}@kms.kaiza.la/",
    "https://kms.kaiza.la@localhost:{trap}/",
    "https://localhost%3a{trap}.kaiza.la/",
    "https://kms..kaiza.la:{trap}/",
    "https://kms.kaiza.la./",
    "https://kms.kaiza.la:0/",
    "https://kms.kaiza.la:99999/",
    "https://kms.kaiza.la:+443/",
    "https://[evil/",
    "https://[::1:{trap}/",
    "https://kms.kaiza.la\t.localhost:{trap}/",
    "https://k\u00e9ms.kaiza.la/",
    "https:/localhost:{trap}/",
    "//localhost:{trap}/",
]


def hook_for(fake: FakeKaizala, monkeypatch: pytest.MonkeyPatch, **extra: object) -> KaizalaHook:
    return fake_hook(fake, monkeypatch, "kaizala_url", **extra)


def relocating_to(location: str) -> FakeKaizala:
    def answer(handler: Handler, seen: Seen) -> None:
        handler.send_json(308, {"message": "moved"}, {"Location": location})

    return FakeKaizala(answer)


@pytest.mark.parametrize("forged", FORGED)
def test_a_forged_308_location_never_gets_the_token(forged, monkeypatch):
    with trap() as listener:
        location = forged.format(trap=listener.server_address[1])
        with serve(relocating_to(location)) as fake:
            hook = hook_for(fake, monkeypatch)
            with pytest.raises(KaizalaRelocationError) as err:
                hook.list_groups()
        assert listener.connections == []
    assert ACCESS_TOKEN not in str(err.value)
    assert "\t" not in str(err.value)
    assert len(fake.api_calls()) == 1  # the one call that got the 308; nothing was repeated elsewhere


@pytest.mark.parametrize("forged", FORGED)
def test_a_forged_endpoint_url_never_gets_the_token(forged, monkeypatch):
    with trap() as listener:
        endpoint_url = forged.format(trap=listener.server_address[1])
        fake = FakeKaizala(lambda handler, seen: handler.send_json(200, {"groups": []}), endpoint_url=endpoint_url)
        with serve(fake):
            hook = hook_for(fake, monkeypatch)
            with pytest.raises(KaizalaRelocationError):
                hook.list_groups()
        assert listener.connections == []
    assert fake.api_calls() == []


@pytest.mark.parametrize(
    "endpoint_url",
    ["ftp://127.0.0.1:{port}/", "http://127.0.0.1:{port}/", "file://127.0.0.1:{port}/", "ws://127.0.0.1:{port}/"],
)
def test_no_scheme_downgrade_on_the_token_services_own_host(endpoint_url, monkeypatch):
    """The token service's own host is trusted for https only: plain http needs a loopback host named exactly."""
    fake = FakeKaizala(lambda handler, seen: handler.send_json(200, {"groups": []}))
    with serve(fake):
        fake.endpoint_url = endpoint_url.format(port=fake.port)
        hook = hook_for(fake, monkeypatch, allowed_hosts="*.kaiza.la")  # 127.0.0.1 not named
        with pytest.raises(KaizalaRelocationError, match="endpointUrl"):
            hook.list_groups()
    assert fake.api_calls() == []


@pytest.mark.parametrize(
    ("endpoint_url", "allowed"),
    [
        ("https://api.kaiza.la/", True),
        ("https://api.kaiza.la:443/", True),
        ("http://api.kaiza.la/", False),
        ("ftp://api.kaiza.la/", False),
        ("http://api.kaiza.la:443/", False),
        ("https://api.kaiza.la:8443/", True),  # another port of an allowed https host still passes the allowlist
    ],
)
def test_endpoint_url_on_the_token_host_must_stay_https(endpoint_url, allowed):
    root = "https://api.kaiza.la/v1"
    if allowed:
        assert check_endpoint_url(endpoint_url, root, DEFAULT_ALLOWED_HOSTS).startswith("https://api.kaiza.la")
    else:
        with pytest.raises(KaizalaRelocationError):
            check_endpoint_url(endpoint_url, root, DEFAULT_ALLOWED_HOSTS)


def test_plain_http_only_to_loopback_hosts_named_exactly():
    named = ("127.0.0.1", "localhost", "kms.example.test", "::1")
    assert host_allowed("http://127.0.0.1:9/", named)
    assert host_allowed("http://localhost:9/", named)
    assert host_allowed("http://[::1]:9/", named)
    assert not host_allowed("http://kms.example.test/", named)  # named, but not loopback
    assert not host_allowed("http://127.0.0.2/", named)  # loopback, but not named


def test_the_url_used_is_rebuilt_from_the_vetted_parts():
    assert relocation_base("HTTPS://KMS2.Kaiza.La:8443/api/v1/groups/x?y#z", "https://kms1.kaiza.la/v1/") == (
        "https://kms2.kaiza.la:8443/api/"
    )
    parsed = parse_url("https://[0:0:0:0:0:0:0:1]:8080/v1")
    assert (parsed.host, parsed.port, parsed.netloc) == ("::1", 8080, "[::1]:8080")
    with pytest.raises(KaizalaRelocationError, match="path"):
        relocation_base("https://kms2.kaiza.la/%2e%2e/v1/", "https://kms1.kaiza.la/v1/")
    with pytest.raises(KaizalaRelocationError, match="scheme://host"):
        relocation_base("https:kms2.kaiza.la/", "https://kms1.kaiza.la/v1/")


def test_a_connection_host_that_is_not_a_plain_url_is_a_clear_error():
    with pytest.raises(KaizalaValidationError, match="invalid host"):
        KaizalaConnectionConfig.from_connection(
            "c", "https://api.kaiza.la\\@evil.example/v1", "app", "pw", {"refresh_token": "rt"}
        )


def test_an_accepted_relocation_is_logged_with_its_destination(monkeypatch, caplog):
    def moved(handler: Handler, seen: Seen) -> None:
        handler.send_json(200, {"groups": [{"groupId": "g@1", "groupName": "moved"}]})

    with serve(FakeKaizala(moved)) as destination:
        target = f"http://localhost:{destination.port}/"
        with serve(relocating_to(target)) as fake:
            hook = hook_for(fake, monkeypatch, allowed_hosts="127.0.0.1,localhost")
            with caplog.at_level(logging.WARNING):
                groups = hook.list_groups()
    assert [g["groupId"] for g in groups] == ["g@1"]
    assert f"to localhost:{destination.port}" in caplog.text
    assert ACCESS_TOKEN not in caplog.text
