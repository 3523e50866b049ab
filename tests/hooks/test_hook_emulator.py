"""KaizalaHook against the emulator over real HTTP, with the emulator's faults switched on."""

from __future__ import annotations

import http.server
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from airflow_provider_kaizala.exceptions import (
    KaizalaAuthError,
    KaizalaBadRequestError,
    KaizalaNotFoundError,
    KaizalaOutcomeUnknownError,
    KaizalaRelocationError,
    KaizalaValidationError,
)
from airflow_provider_kaizala.hooks.config import TOKEN_CACHE
from tests.conftest import Tenant


def subscriber_ids(tenant: Tenant) -> list[str]:
    return sorted(s["mobileNumber"] for s in tenant.emulator.admin.subscribers(tenant.public_group_id))


def walk(hook, group_id: str, page_size: int = 50) -> list[str]:
    return [s["mobileNumber"] for s in hook.iter_subscribers(group_id, page_size=page_size)]


def resource_calls(tenant: Tenant) -> list[dict]:
    return [c for c in tenant.calls() if "accessToken" not in c["path"]]


def test_groups_members_and_subscribers_round_trip(tenant):
    hook = tenant.hook()
    groups = {g["groupId"]: g for g in hook.list_groups()}
    assert {tenant.group_id, tenant.public_group_id} <= set(groups)
    assert hook.get_group(tenant.group_id)["groupId"] == tenant.group_id
    members = hook.list_members(tenant.group_id)
    assert len(members) == 5
    assert all(isinstance(m["isProvisioned"], bool) for m in members)
    seen = walk(hook, tenant.public_group_id, page_size=50)
    assert len(seen) == len(set(seen)) == tenant.subscriber_count
    assert sorted(seen) == subscriber_ids(tenant)
    pages = [len(p) for p in hook.iter_subscriber_pages(tenant.public_group_id, page_size=40)]
    assert pages == [40] * 5 + [37]


def test_iter_subscribers_is_lazy(tenant):
    hook = tenant.hook()
    iterator = hook.iter_subscribers(tenant.public_group_id, page_size=10)
    first = [next(iterator) for _ in range(10)]
    assert len(first) == 10
    pages = [c for c in resource_calls(tenant) if c["path"].endswith("/subscribers")]
    assert len(pages) == 1


def test_create_group_members_and_messages(tenant):
    hook = tenant.hook()
    created = hook.create_group("Night shift", "Welcome!", members=["+14155552671"], group_type="Group")
    group_id = created["groupId"]
    assert created["membersAdded"] is True
    assert hook.add_members(group_id, ["+14155552672", "+14155552671"]) is True
    assert hook.add_members(group_id, ["+14155552672"]) is True  # adding an existing member is not an error
    numbers = {m["mobileNumber"]: m for m in hook.list_members(group_id)}
    assert {"+14155552671", "+14155552672"} <= set(numbers)
    assert hook.remove_member(group_id, numbers["+14155552672"]["id"]) is True
    with pytest.raises(KaizalaNotFoundError):
        hook.remove_member(group_id, numbers["+14155552672"]["id"])
    reference = hook.send_message(group_id, "Shift starts at 9")["referenceId"]
    sent = tenant.emulator.admin.messages(group_id)
    assert [(m["referenceId"], m["message"]) for m in sent] == [(reference, "Shift starts at 9")]


def test_subgroups(tenant):
    hook = tenant.hook()
    child = hook.create_subgroup(tenant.group_id, "North", welcome_message="Hi")["groupId"]
    assert child in {g["groupId"] for g in hook.list_subgroups(tenant.group_id)}
    other = hook.create_group("Detached", "Hello")["groupId"]
    assert hook.add_subgroup(tenant.group_id, [other]) is True
    assert other in {g["groupId"] for g in hook.list_subgroups(tenant.group_id)}
    assert hook.remove_subgroup(tenant.group_id, other) is True
    assert other not in {g["groupId"] for g in hook.list_subgroups(tenant.group_id)}


def test_subscribers_add_remove_report_per_number(tenant):
    hook = tenant.hook()
    added = hook.add_subscribers(tenant.public_group_id, ["+14155550001", "+14155550002"])
    assert added == {"+14155550001": {"isAdded": True}, "+14155550002": {"isAdded": True}}
    again = hook.add_subscribers(tenant.public_group_id, ["+14155550001"])
    assert again["+14155550001"]["isAdded"] is False
    removed = hook.remove_subscribers(tenant.public_group_id, ["+14155550001", "+14155550003"])
    assert removed["+14155550001"]["isRemoved"] is True
    assert removed["+14155550003"]["isRemoved"] is False
    assert len(walk(hook, tenant.public_group_id)) == tenant.subscriber_count + 1


def test_messages_to_subscribers(tenant):
    hook = tenant.hook()
    some = subscriber_ids(tenant)[:3]
    hook.send_message(tenant.public_group_id, "Offer", subscribers=some)
    hook.send_message(tenant.public_group_id, "Everyone", send_to_all_subscribers=True)
    sent = tenant.emulator.admin.messages(tenant.public_group_id)
    assert [(m["message"], sorted(m["subscribers"] or []), m["sendToAllSubscribers"]) for m in sent] == [
        ("Offer", sorted(some), False),
        ("Everyone", [], True),
    ]


def test_token_is_reused_then_renewed_after_expiry_mid_pagination(tenant):
    hook = tenant.hook()
    hook.list_groups()
    hook.list_members(tenant.group_id)
    assert sum("accessToken" in c["path"] for c in tenant.calls()) == 1
    iterator = hook.iter_subscribers(tenant.public_group_id, page_size=20)
    seen = [next(iterator) for _ in range(60)]
    tenant.emulator.admin.expire_tokens(tenant.application_id)
    seen += list(iterator)
    numbers = [s["mobileNumber"] for s in seen]
    assert sorted(numbers) == subscriber_ids(tenant)
    statuses = [c["status"] for c in tenant.calls()]
    assert 401 in statuses
    assert sum("accessToken" in c["path"] for c in tenant.calls()) == 2


def test_tokens_expiring_every_few_calls(tenant):
    tenant.emulator.admin.faults(token_expire_every=4)
    hook = tenant.hook()
    assert sorted(walk(hook, tenant.public_group_id, page_size=10)) == subscriber_ids(tenant)


def test_short_lived_tokens_are_renewed_before_expiry(tenant):
    # 5 s tokens are renewed 0.5 s ahead: after 4.6 s the hook renews first. (1 s tokens left 0.9 s for the
    # first call, which a loaded CI machine sometimes missed, so the server answered 401.)
    tenant.emulator.admin.faults(access_token_lifetime=5.0)
    hook = tenant.hook()
    hook.list_groups()
    import time

    time.sleep(4.6)
    hook.list_groups()
    assert 401 not in [c["status"] for c in tenant.calls()]
    assert sum("accessToken" in c["path"] for c in tenant.calls()) == 2


def test_relocation_in_the_middle_of_a_pagination(tenant):
    tenant.emulator.admin.faults(relocate_after=3)
    hook = tenant.hook()
    numbers = walk(hook, tenant.public_group_id, page_size=20)
    assert len(numbers) == len(set(numbers))
    assert sorted(numbers) == subscriber_ids(tenant)
    calls = resource_calls(tenant)
    assert 308 in [c["status"] for c in calls]
    assert {c["endpoint"] for c in calls if c["status"] == 200} == {"primary", "alternate"}


def test_relocation_is_kept_for_later_calls(tenant):
    hook = tenant.hook()
    hook.list_groups()
    tenant.emulator.admin.relocate(tenant.application_id)
    hook.list_groups()
    hook.list_members(tenant.group_id)
    later = resource_calls(tenant)[1:]
    assert [(c["status"], c["endpoint"]) for c in later] == [(308, "primary"), (200, "alternate"), (200, "alternate")]


class _Trap(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        body = b'{"groups": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT = do_DELETE = do_GET

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def trap() -> Iterator[int]:
    """A loopback HTTP server that counts every request it receives."""
    _Trap.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Trap)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    "allowed_hosts",
    [
        "127.0.0.1",  # localhost is simply not on the list
        "127.0.0.1,localhos*",  # a pattern matches, but plain http needs the host named exactly
    ],
)
def test_refused_relocation_sends_nothing_to_the_refused_host(tenant, trap, allowed_hosts):
    hook = tenant.hook(allowed_hosts=allowed_hosts)
    hook.list_groups()
    tenant.emulator.admin.relocate(tenant.application_id, to=f"http://localhost:{trap}/")
    with pytest.raises(KaizalaRelocationError, match="localhost"):
        hook.list_groups()
    assert _Trap.hits == []


def test_relocation_to_an_allowed_host_is_followed(tenant, trap):
    hook = tenant.hook(allowed_hosts="127.0.0.1,localhost")
    tenant.emulator.admin.relocate(tenant.application_id, to=f"http://localhost:{trap}/")
    assert hook.list_groups() == []  # the trap answers an empty group list
    assert _Trap.hits == ["/v1/groups?showDetail=false&fetchAllGroups=false"]


def test_https_relocation_outside_allowlist_is_refused(tenant, trap):
    hook = tenant.hook()
    tenant.emulator.admin.relocate(tenant.application_id, to=f"https://evil.example.com:{trap}/")
    with pytest.raises(KaizalaRelocationError, match=r"evil\.example\.com"):
        hook.send_message(tenant.group_id, "hello")
    assert tenant.emulator.admin.messages(tenant.group_id) == []


def test_throttling_waits_retry_after_and_completes(tenant):
    tenant.emulator.admin.faults(throttle_limit=5, throttle_window=1.0)
    hook = tenant.hook(rate_limit_per_minute=1000)
    assert sorted(walk(hook, tenant.public_group_id, page_size=20)) == subscriber_ids(tenant)
    statuses = [c["status"] for c in resource_calls(tenant)]
    assert 429 in statuses
    assert statuses.count(200) == 12


def test_client_side_limiter_avoids_429(tenant):
    tenant.emulator.admin.faults(throttle_limit=5, throttle_window=1.0)
    hook = tenant.hook(rate_limit_per_minute=5, rate_limit_window=1.0)
    assert sorted(walk(hook, tenant.public_group_id, page_size=20)) == subscriber_ids(tenant)
    assert [c["status"] for c in resource_calls(tenant)] == [200] * 12


def test_server_errors_are_retried_on_reads(tenant):
    tenant.emulator.admin.faults(error_rate=0.3, fault_seed=7, fault_paths="subscribers")
    hook = tenant.hook()
    assert sorted(walk(hook, tenant.public_group_id, page_size=20)) == subscriber_ids(tenant)
    assert any(c["fault"] == "error" for c in resource_calls(tenant))


def test_dropped_connections_are_retried_on_idempotent_adds(tenant):
    tenant.emulator.admin.faults(drop_rate=0.5, drop_phase="after", fault_seed=3, fault_paths="members")
    hook = tenant.hook()
    numbers = [f"+1415555{n:04d}" for n in range(10, 20)]
    assert hook.add_members(tenant.group_id, numbers) is True
    assert any(c["fault"] == "drop" for c in resource_calls(tenant))
    present = [m["mobileNumber"] for m in tenant.emulator.admin.members(tenant.group_id)]
    assert sorted(n for n in present if n in numbers) == numbers


def test_message_whose_response_times_out_is_not_sent_twice(tenant):
    tenant.emulator.admin.faults(slow_rate=1.0, slow_seconds=1.5, slow_phase="after", fault_paths="messages")
    hook = tenant.hook(timeout=0.5)
    with pytest.raises(KaizalaOutcomeUnknownError, match="Outcome unknown"):
        hook.send_message(tenant.group_id, "Pay day")
    assert [m["message"] for m in tenant.emulator.admin.messages(tenant.group_id)] == ["Pay day"]


def test_message_on_dropped_connection_is_not_sent_twice(tenant):
    tenant.emulator.admin.faults(drop_rate=1.0, drop_phase="after", fault_paths="messages")
    hook = tenant.hook()
    with pytest.raises(KaizalaOutcomeUnknownError):
        hook.send_message(tenant.group_id, "Once")
    assert [m["message"] for m in tenant.emulator.admin.messages(tenant.group_id)] == ["Once"]


def test_message_refused_with_503_is_sent_once_after_retry(tenant):
    tenant.emulator.admin.faults(error_rate=0.5, error_statuses=[503], fault_seed=1, fault_paths="messages")
    hook = tenant.hook()
    for n in range(6):
        hook.send_message(tenant.group_id, f"m{n}")
    assert [m["message"] for m in tenant.emulator.admin.messages(tenant.group_id)] == [f"m{n}" for n in range(6)]
    assert any(c["status"] == 503 for c in resource_calls(tenant))


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "field"),
    [
        ("send_message", ["group@1", ""], {}, "message"),
        ("send_message", ["group@1", "x" * 4001], {}, "message"),
        ("send_message", ["group/1", "hi"], {}, "group_id"),
        ("send_message", ["group@1", "hi"], {"subscribers": ["12345"]}, "subscribers[0]"),
        (
            "send_message",
            ["group@1", "hi"],
            {"subscribers": ["+14155552671"], "send_to_all_subscribers": True},
            "subscribers",
        ),
        ("add_members", ["group@1", []], {}, "phone_numbers"),
        ("add_members", ["group@1", 14155552671], {}, "phone_numbers"),
        ("add_subscribers", ["group@1", ["+1 415 555 2671", "+99999"]], {}, "phone_numbers[1]"),
        ("remove_member", ["", "m"], {}, "group_id"),
        ("remove_member", ["g", "a b"], {}, "member_id"),
        ("create_group", ["", "hi"], {}, "name"),
        ("create_group", ["n", "hi"], {"group_type": "Public"}, "group_type"),
        ("create_group", ["n", "hi"], {"members": [f"+1415555{n:04d}" for n in range(101)]}, "members"),
        ("list_groups", [], {"show_details": "maybe"}, "show_details"),
        ("set_member_role", ["g", "m", "Owner"], {}, "role"),
        ("add_subgroup", ["g", []], {}, "subgroup_ids"),
    ],
)
def test_bad_input_fails_before_any_call(tenant, method, args, kwargs, field):
    hook = tenant.hook()
    with pytest.raises(KaizalaValidationError) as err:
        getattr(hook, method)(*args, **kwargs)
    assert field in str(err.value)
    assert tenant.calls() == []


def test_bad_page_size_fails_before_any_call(tenant):
    hook = tenant.hook()
    for size in (0, 51, "fifty", "0", 2.5):
        with pytest.raises(KaizalaValidationError, match="page_size"):
            next(hook.iter_subscribers(tenant.public_group_id, page_size=size))
    assert tenant.calls() == []


def test_server_side_rejection_carries_the_server_message(tenant):
    hook = tenant.hook()
    with pytest.raises(KaizalaBadRequestError) as err:
        next(hook.iter_subscribers(tenant.group_id))  # not a public group
    assert err.value.status == 400
    assert "subscribers" in str(err.value)


def test_test_connection(tenant):
    ok, message = tenant.hook().test_connection()
    assert ok, message
    assert "group" in message
    bad = tenant.hook()
    tenant.monkeypatch.setenv(
        f"AIRFLOW_CONN_{bad.kaizala_conn_id.upper()}",
        tenant.conn_json().replace(tenant.connector["applicationSecret"], "wrong-secret"),
    )
    ok, message = bad.test_connection()
    assert not ok
    assert "KaizalaAuthError" in message
    assert "wrong-secret" not in message


def test_wrong_credentials_raise_auth_error(tenant):
    hook = tenant.hook()
    tenant.monkeypatch.setenv(
        f"AIRFLOW_CONN_{hook.kaizala_conn_id.upper()}",
        tenant.conn_json().replace(tenant.connector["refreshToken"], "not-a-token"),
    )
    with pytest.raises(KaizalaAuthError, match="HTTP 401"):
        hook.list_groups()


def test_rotated_refresh_token_is_persisted_and_preferred(tenant, caplog):
    hook = tenant.hook()
    hook.list_groups()
    assert tenant.store.tokens == {}
    tenant.emulator.admin.advance_clock(330 * 86400)
    TOKEN_CACHE.clear()
    with caplog.at_level(logging.WARNING):
        hook.list_groups()
    rotated = tenant.store.tokens[hook.kaizala_conn_id]
    assert rotated
    assert rotated != tenant.connector["refreshToken"]
    assert "rotated the refresh token" in caplog.text
    assert rotated not in caplog.text
    # A new hook on the same connection uses the stored token, not the connection's.
    TOKEN_CACHE.clear()
    again = tenant.hook()
    tenant.store.tokens[again.kaizala_conn_id] = rotated
    assert again.refresh_token == rotated
    again.list_groups()
    tenant.emulator.admin.advance_clock(40 * 86400)  # the original refresh token has now expired
    TOKEN_CACHE.clear()
    again.get_access_token(force=True)
    stale = tenant.hook()
    with pytest.raises(KaizalaAuthError):
        stale.list_groups()


def test_secrets_never_reach_logs_or_errors(tenant, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    tenant.emulator.admin.faults(
        token_expire_every=3, relocate_after=5, error_rate=0.2, fault_seed=5, fault_paths="subscribers"
    )
    hook = tenant.hook()
    walk(hook, tenant.public_group_id, page_size=25)
    hook.send_message(tenant.group_id, "hello")
    errors = []
    for call in (lambda: hook.remove_member(tenant.group_id, "nobody"), lambda: hook.get_group("missing@1")):
        try:
            call()
        except Exception as err:
            errors.append(str(err))
    access_token = hook.get_access_token().token
    out = capsys.readouterr()
    haystack = caplog.text + out.out + out.err + "".join(errors)
    haystack += str(tenant.emulator.admin.calls())
    for secret in [*tenant.secrets, access_token]:
        assert secret not in haystack
    assert len(errors) == 2


def test_importing_the_provider_raises_no_deprecation_warning():
    code = (
        "import importlib, pkgutil, warnings\n"
        "import airflow_provider_kaizala as package\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    names = [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + '.')]\n"
        "    for name in names:\n"
        "        importlib.import_module(name)\n"
        "    from airflow_provider_kaizala.hooks.kaizala import KaizalaHook\n"
        "    KaizalaHook('x')\n"
        "bad = [f'{w.filename}: {w.message}' for w in caught if issubclass(w.category, DeprecationWarning)"
        " and ('airflow_provider_kaizala' in w.filename or 'airflow_provider_kaizala' in str(w.message))]\n"
        "print(len(names), bad); raise SystemExit(1 if bad or len(names) < 30 else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


class _Bouncer(http.server.BaseHTTPRequestHandler):
    """Answers every request with 308 back to ``target`` (a relocation loop)."""

    target = ""
    hits: list[str] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(308)
        self.send_header("Location", self.target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT = do_DELETE = do_GET

    def log_message(self, *args) -> None:
        pass


def test_relocation_loop_is_refused(tenant):
    _Bouncer.target = tenant.emulator.url + "/"
    _Bouncer.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Bouncer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        hook = tenant.hook(allowed_hosts="127.0.0.1,localhost")
        hook.list_groups()
        tenant.emulator.admin.relocate(tenant.application_id, to=f"http://localhost:{server.server_address[1]}/")
        with pytest.raises(KaizalaRelocationError, match="loop"):
            hook.list_groups()
        assert len(_Bouncer.hits) == 1  # primary -> bouncer -> primary (seen before): stop
    finally:
        server.shutdown()
        server.server_close()


def test_reaction_walks_follow_the_ticks_cursor(tenant):
    tenant.emulator.admin.faults(extensions=True)  # reactionType in the detail items is an emulator extension
    hook = tenant.hook()
    references = [hook.send_message(tenant.group_id, f"post {n}")["referenceId"] for n in range(25)]
    for reference in references:
        hook.add_reaction(tenant.group_id, reference)
    hook.add_reaction(tenant.group_id, references[0], reaction_type="Comment", comment="first!")
    summaries = list(hook.iter_group_reactions(tenant.group_id))
    assert [s["referenceId"] for s in summaries] == [*references[1:], references[0]]  # page size 20: two pages
    assert summaries[-1]["reactionsCountMap"] == {"like": 1, "comment": 1}
    details = list(hook.iter_reactions(tenant.group_id, references[0]))
    assert sorted(d["reactionType"] for d in details) == ["Comment", "Like"]
    assert hook.get_reaction_summary(tenant.group_id, references[0]) == {"like": 1, "comment": 1}
