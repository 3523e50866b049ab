"""Property-based fuzzing of the emulator's ``/v1`` API against its own OpenAPI description (schemathesis).

One emulator (demo tenant, throttling off, faults off) serves ``/_emulator/openapi.json``; schemathesis generates
requests for every operation (positive and negative data) over a fixed, deterministic budget and checks that no
response is a 5xx, that every status is documented and that every body (and the documented headers) conform to
the description.

To reach the handlers rather than 404, generated ids are swapped (by hooks) for real ones of the demo tenant:
groups, sub-groups, members, actions, a message, a webhook registered on a local callback that passes the
validation handshake, the demo connector's credentials for the token call. Every call carries a real access
token. Operations that change the tenant (removing members, detaching sub-groups, deleting webhooks...) cannot
spoil the others: the tenant is reset and re-seeded, with the same deterministic ids, before each operation; the
member-id pool leaves out the demo connector's own member, so one operation cannot lock itself out either.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from airflow_provider_kaizala.emulator.app import EmulatorApp
from airflow_provider_kaizala.emulator.server import KaizalaEmulator
from airflow_provider_kaizala.emulator.state import user_id

schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")
st = pytest.importorskip("hypothesis.strategies")
sch_checks = pytest.importorskip("schemathesis.checks")
openapi_checks = pytest.importorskip("schemathesis.specs.openapi.checks")

#: Generated examples per operation and generation phase (fuzzing); with the explicit-example and coverage phases
#: the whole run stays well under 90 s on the 2-core development box.
MAX_EXAMPLES = 50
SEED = 20240831
DEMO_SUBSCRIBERS = 120

CHECKS = [
    sch_checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.response_schema_conformance,
]

#: (operation label, status) -> count, filled by the fuzz test, reported and checked by the last test.
STATS: Counter[tuple[str, int]] = Counter()


class _Callback(BaseHTTPRequestHandler):
    """A webhook callback: echoes the validation token, accepts every event."""

    def do_GET(self) -> None:
        token = parse_qs(urlsplit(self.path).query).get("validationToken", [""])[0]
        self._answer(200, token.encode())

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self._answer(200, b"")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


class Tenant:
    """The demo tenant seen by the fuzzer: ids for the hooks, a fresh access token, re-seeding per operation."""

    def __init__(self, emu: KaizalaEmulator, callback_url: str) -> None:
        self.emu = emu
        self.callback_url = callback_url
        self.ids: dict[str, list[str]] = {}
        self.credentials: dict[str, str] = {}
        self.token = ""
        self.reseed()

    def reseed(self) -> None:
        emu = self.emu
        emu.admin.reset()
        demo = emu.admin.seed_demo(subscribers=DEMO_SUBSCRIBERS)
        conn = demo["connector"]
        self.credentials = {
            "applicationId": conn["applicationId"],
            "applicationSecret": conn["applicationSecret"],
            "refreshToken": conn["refreshToken"],
        }
        resp = requests.get(f"{emu.url}/v1/accessToken", headers=self.credentials, timeout=10)
        assert resp.status_code == 200, resp.text
        self.token = resp.json()["accessToken"]
        groups = demo["groups"]
        field = groups["Field Operations"]
        survey, job = demo["actions"]["survey"], demo["actions"]["job"]
        message = self._call("POST", f"/groups/{field}/messages", {"message": "fuzz"})["referenceId"]
        self._call("POST", f"/groups/{field}/reaction", {"referenceId": message, "reactionType": "Like"})
        webhook = self._call(
            "POST",
            "/webhook",
            {
                "objectId": field,
                "objectType": "Group",
                "eventTypes": ["MemberAdded", "TextMessageCreated"],
                "callBackUrl": self.callback_url,
            },
        )["webhookId"]
        ids = {
            "group": list(groups.values()),
            "public": [demo["publicGroupId"]],
            "subgroup": [groups["North Region"], groups["South Region"], groups["Delhi Team"]],
            # not the demo connector's own member (+919810000001): removing or demoting it locks the run out
            "member": [user_id(f"+91981000000{n}") for n in range(2, 9)],
            "action": [survey, job],
            "reference": [message, survey, job],
            "webhook": [webhook],
            "callback": [self.callback_url],
            "cred": [self.credentials[k] for k in CREDENTIALS],
        }
        assert {k: len(v) for k, v in ids.items()} == POOL_SIZES
        self.ids = ids

    def _call(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = requests.request(
            method, f"{self.emu.url}/v1{path}", json=body, headers={"accessToken": self.token}, timeout=10
        )
        assert resp.status_code == 200, resp.text
        return resp.json()  # type: ignore[no-any-return]

    def resolve(self, value: Any) -> Any:
        """``value`` with every placeholder (``fuzzid-POOL-I``, put there by the hooks) replaced by the real id."""
        if isinstance(value, str) and value.startswith(PLACEHOLDER):
            pool, _, index = value[len(PLACEHOLDER) :].partition("-")
            if pool in self.ids and index.isdigit():
                return self.ids[pool][int(index)]
        if isinstance(value, Mapping):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value


# -- hooks ------------------------------------------------------------------------------------------------
# Examples are generated at collection time, before the emulator runs, so the hooks put placeholders
# (``fuzzid-group-0``..., only unreserved URL characters) that the test resolves against the live tenant just
# before the call.
PLACEHOLDER = "fuzzid-"
CREDENTIALS = ("applicationId", "applicationSecret", "refreshToken")
POOL_SIZES = {
    "public": 1,
    "group": 6,
    "subgroup": 3,
    "member": 7,
    "action": 2,
    "reference": 3,
    "webhook": 1,
    "callback": 1,
    "cred": 3,
}
PATH_POOLS = {
    "groupId": "group",
    "subGroupId": "subgroup",
    "memberId": "member",
    "actionId": "action",
    "referenceId": "reference",
    "webhookId": "webhook",
}
QUERY_POOLS = {"sourceGroupId": "group", "objectId": "group"}
BODY_POOLS = {"objectId": "group", "referenceId": "reference", "sourceGroupId": "group", "callBackUrl": "callback"}


def _pick(pool: str, original: Any) -> Any:
    """The generated value or one of the pool's real ids (as placeholders)."""
    return st.sampled_from([*(f"{PLACEHOLDER}{pool}-{i}" for i in range(POOL_SIZES[pool])), original])


def _swap(values: Any, pools: dict[str, str]) -> Any:
    if not isinstance(values, dict):
        return st.just(values)
    return st.fixed_dictionaries({k: _pick(pools[k], v) if k in pools else st.just(v) for k, v in values.items()})


#: Valid numbers (random digits are almost never a valid phone number): demo members, synthetic subscribers.
PHONES = [["+919810000009"], ["+919600000123", "+919810000003"], ["+919999999999"]]
PHONE_LISTS = ("members", "subscribers", "assignedTo")
RESPONSES: list[Any] = [
    {"actionType": "Survey", "actionBody": {"answers": ["Yes", 12, "All good"]}},
    {"actionType": "Job", "actionBody": {"isCompleted": True}},
]
MEDIA_URLS = ["https://example.com/photo.JPG", "https://example.com/a/report.pdf"]


def _install_hooks(schema: Any) -> None:
    def flatmap_path_parameters(context: Any, path_parameters: Any) -> Any:
        if "/subscribers" in context.operation.path:  # only a ConnectGroup has subscribers
            return _swap(path_parameters, {**PATH_POOLS, "groupId": "public"})
        return _swap(path_parameters, PATH_POOLS)

    def flatmap_query(context: Any, query: Any) -> Any:
        return _swap(query, QUERY_POOLS)

    def flatmap_headers(context: Any, headers: Any) -> Any:
        if not isinstance(headers, dict) or "applicationId" not in headers:
            return st.just(headers)
        real = {k: f"{PLACEHOLDER}cred-{i}" for i, k in enumerate(CREDENTIALS)}
        return st.sampled_from([{**headers, **real}, headers])

    def flatmap_body(context: Any, body: Any) -> Any:
        if not isinstance(body, dict):
            return st.just(body)
        strategies = {k: _pick(BODY_POOLS[k], v) if k in BODY_POOLS else st.just(v) for k, v in body.items()}
        for key in PHONE_LISTS:
            if isinstance(body.get(key), list):
                strategies[key] = st.sampled_from([*PHONES, body[key]])
        if "/responses" in context.operation.path:  # answers to the demo survey and job
            return st.one_of(st.sampled_from(RESPONSES), st.fixed_dictionaries(strategies))
        if "mediaUrl" in body:
            strategies["mediaUrl"] = st.sampled_from([*MEDIA_URLS, body["mediaUrl"]])
        if isinstance(body.get("subGroups"), list):
            real = [[f"{PLACEHOLDER}subgroup-0"], [f"{PLACEHOLDER}subgroup-2"]]
            strategies["subGroups"] = st.sampled_from([*real, body["subGroups"]])
        return st.fixed_dictionaries(strategies)

    for hook in (flatmap_path_parameters, flatmap_query, flatmap_headers, flatmap_body):
        schema.hook(hook)


@pytest.fixture(scope="module")
def callback_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Callback)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def fuzz_emulator() -> Iterator[KaizalaEmulator]:
    with KaizalaEmulator(
        seed="demo",
        demo_subscribers=DEMO_SUBSCRIBERS,
        throttle_limit=0,
        tenant_throttle_limit=0,
        webhook_validation_timeout=1.0,
        webhook_delivery_timeout=1.0,
        webhook_retries=0,
    ) as emu:
        yield emu


@pytest.fixture(scope="module")
def fuzz_tenant(fuzz_emulator: KaizalaEmulator, callback_url: str) -> Tenant:
    return Tenant(fuzz_emulator, callback_url)


def _with_examples(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with placeholder ``example``s on the id parameters and body properties.

    The coverage phase does not run the hooks; it starts from examples, so they too point at real ids.
    """
    placeholders = {
        **{name: f"{PLACEHOLDER}{pool}-0" for name, pool in {**PATH_POOLS, **QUERY_POOLS, **BODY_POOLS}.items()},
        **{name: f"{PLACEHOLDER}cred-{i}" for i, name in enumerate(CREDENTIALS)},
    }

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for param in node.get("parameters", ()):
                if param.get("name") in placeholders:
                    param["example"] = placeholders[param["name"]]
            for name, prop in (node.get("properties") or {}).items():
                if name in placeholders and isinstance(prop, dict) and prop.get("type") == "string":
                    prop["example"] = placeholders[name]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc["paths"])
    return doc


def openapi_document(server_url: str | None = None) -> dict[str, Any]:
    """The generated description, as a fresh emulator app serves it."""
    return EmulatorApp().openapi_document(server_url)


def _load_schema() -> Any:
    """The description as the emulator serves it (built from the module: the server starts after collection)."""
    loaded = schemathesis.openapi.from_dict(_with_examples(openapi_document()))
    loaded.config.seed = SEED
    loaded.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True, database="none")
    _install_hooks(loaded)
    return loaded


schema = _load_schema()


@pytest.fixture(scope="module")
def served(fuzz_emulator: KaizalaEmulator, fuzz_tenant: Tenant) -> Tenant:
    """The running emulator serves the very document the tests were generated from."""
    resp = requests.get(f"{fuzz_emulator.url}/_emulator/openapi.json", timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.json() == openapi_document(fuzz_emulator.url)
    return fuzz_tenant


@pytest.fixture
def tenant(served: Tenant) -> Tenant:
    """A freshly seeded demo tenant for each operation (each operation is one test item, its examples share it)."""
    served.reseed()
    return served


@schema.parametrize()
@hypothesis.settings(suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture])
def test_emulator_conforms_to_its_openapi_description(case: Any, tenant: Tenant) -> None:
    case.path_parameters = tenant.resolve(case.path_parameters)
    case.query = tenant.resolve(case.query)
    headers = {k: v for k, v in tenant.resolve(case.headers or {}).items() if k.lower() != "accesstoken"}
    case.headers = {**headers, "accessToken": tenant.token}
    case.body = tenant.resolve(case.body)
    response = case.call_and_validate(base_url=tenant.emu.url, checks=CHECKS, timeout=15)
    STATS[case.operation.label, response.status_code] += 1


def test_fuzz_run_reached_the_handlers(capsys: pytest.CaptureFixture[str]) -> None:
    """Report the run, and prove it was meaningful: many examples, and most operations answered 2xx."""
    if not STATS:
        pytest.skip("the fuzz test did not run")
    total = sum(STATS.values())
    by_op: dict[str, Counter[int]] = {}
    for (label, status), n in STATS.items():
        by_op.setdefault(label, Counter())[status] += n
    lines = [f"schemathesis: {total} examples over {len(by_op)} operations (max_examples={MAX_EXAMPLES})"]
    for label in sorted(by_op):
        statuses = ", ".join(f"{s}x{n}" for s, n in sorted(by_op[label].items()))
        lines.append(f"  {label}: {sum(by_op[label].values())} ({statuses})")
    with capsys.disabled():
        sys.stdout.write("\n" + "\n".join(lines) + "\n")
    ok = [label for label, counts in by_op.items() if any(200 <= s < 300 for s in counts)]
    assert total >= 30 * len(by_op), lines
    assert len(ok) >= 0.8 * len(by_op), (sorted(set(by_op) - set(ok)), lines)
