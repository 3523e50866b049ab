"""Proxy and CA settings are resolved once per hook session (issue 17, point 7) and still honoured.

``requests`` re-reads the whole environment on every request when ``trust_env`` is on; the hook resolves
``HTTP(S)_PROXY``/``NO_PROXY`` per origin and ``REQUESTS_CA_BUNDLE`` once per session instead. These tests
run real requests through a recording forward proxy on loopback and against a TLS server whose
certificate only the bundle named in the environment trusts.
"""

from __future__ import annotations

import datetime
import http.client
import http.server
import ipaddress
import itertools
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from airflow_provider_kaizala.exceptions import KaizalaException
from airflow_provider_kaizala.hooks.config import TOKEN_CACHE
from airflow_provider_kaizala.hooks.kaizala import KaizalaHook
from airflow_provider_kaizala.hooks.token_store import MemoryRefreshTokenStore
from tests.conftest import free_port
from tests.hooks.hostile import FakeKaizala, Handler, Seen, serve

_ids = itertools.count(1)
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    TOKEN_CACHE.clear()
    yield
    TOKEN_CACHE.clear()


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    """A plain-HTTP forward proxy: records the absolute URL of every request and relays it."""

    seen: list[str]

    def _relay(self) -> None:
        self.seen.append(f"{self.command} {self.path}")
        target = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection", "connection")}
        upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
        try:
            upstream.request(self.command, target.path + (f"?{target.query}" if target.query else ""), body, headers)
            answer = upstream.getresponse()
            content = answer.read()
        finally:
            upstream.close()
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_POST = do_PUT = do_DELETE = _relay

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[tuple[str, list[str]]]:
    """A recording forward proxy on a free loopback port: ``(url, seen)``."""
    seen: list[str] = []
    handler = type("Recording", (_ProxyHandler,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()
    thread.join(5)


def groups(handler: Handler, seen: Seen) -> None:
    handler.send_json(200, {"groups": [{"groupId": "g@1", "groupName": "Team"}]})


def hook_for(fake: FakeKaizala, monkeypatch: pytest.MonkeyPatch, **extra: object) -> KaizalaHook:
    conn_id = f"kaizala_env_{next(_ids)}"
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", fake.connection(**extra))
    return KaizalaHook(conn_id, refresh_token_store=MemoryRefreshTokenStore(), retry_backoff=0.01)


def test_environment_proxy_is_used(monkeypatch, proxy):
    url, seen = proxy
    monkeypatch.setenv("HTTP_PROXY", url)
    with serve(FakeKaizala(groups)) as fake:
        hook = hook_for(fake, monkeypatch)
        assert [g["groupId"] for g in hook.list_groups()] == ["g@1"]
        hook.list_groups()
    origin = fake.url
    assert seen == [
        f"GET {origin}/v1/accessToken",
        f"GET {origin}/v1/groups?showDetail=false&fetchAllGroups=false",
        f"GET {origin}/v1/groups?showDetail=false&fetchAllGroups=false",
    ]


def test_no_proxy_excludes_a_host(monkeypatch, proxy):
    url, seen = proxy
    monkeypatch.setenv("HTTP_PROXY", url)
    monkeypatch.setenv("NO_PROXY", "example.com,127.0.0.1")
    with serve(FakeKaizala(groups)) as fake:
        assert [g["groupId"] for g in hook_for(fake, monkeypatch).list_groups()] == ["g@1"]
    assert seen == []


def test_the_connections_proxies_extra_wins_over_the_environment(monkeypatch, proxy):
    url, seen = proxy
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    with serve(FakeKaizala(groups)) as fake:
        hook = hook_for(fake, monkeypatch, proxies={"http": url})
        assert [g["groupId"] for g in hook.list_groups()] == ["g@1"]
    assert len(seen) == 2


def test_the_environment_is_read_once_per_session(monkeypatch, proxy):
    url, seen = proxy
    with serve(FakeKaizala(groups)) as fake:
        hook = hook_for(fake, monkeypatch)
        hook.list_groups()
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")  # set after the session resolved it
        assert [g["groupId"] for g in hook.list_groups()] == ["g@1"]
        fresh = hook_for(fake, monkeypatch)  # a new hook (a new task) sees the new environment
        monkeypatch.setenv("HTTP_PROXY", url)
        fresh.list_groups()
    assert seen == [f"GET {fake.url}/v1/groups?showDetail=false&fetchAllGroups=false"]


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_requests_ca_bundle_is_honoured(monkeypatch, tmp_path):
    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with serve(FakeKaizala(groups), tls=context) as fake:
        with pytest.raises(KaizalaException):
            hook_for(fake, monkeypatch, allowed_hosts="127.0.0.1").list_groups()  # the default CAs refuse it
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
        trusted = hook_for(fake, monkeypatch, allowed_hosts="127.0.0.1")
        assert [g["groupId"] for g in trusted.list_groups()] == ["g@1"]
    assert fake.url.startswith("https://")
