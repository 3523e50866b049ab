"""The call budget as users scale out: Airflow's CeleryExecutor, a Redis broker, two Celery workers.

The DAG ``kaizala_celery_budget`` (``dags/``) walks several public groups at once as mapped tasks spread over
both workers, while a task sends messages and a :class:`KaizalaNotifier` fires as each walk ends. The emulator
throttles the connector at 100 calls per 3 s (a compressed minute). From the emulator's call log and the
tasks' result files the test checks that the budget holds: HTTP 429 on at most 1 % of the calls, every
message issued while the walks saturate the budget answered within 0.1 window, and every walk complete.

Two runs: the budget shared through Redis (db 2 of the broker's server), then through the host backend's files
(both workers are on this host), each set deployment-wide in the ``[kaizala]`` section of the workers.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

import pytest

from tests.conftest import SECRET_MARKER
from tests.system.conftest import DAG_ID, LIMIT, RUN_TIMEOUT, WINDOW, Deployment

pytestmark = [pytest.mark.system, pytest.mark.timeout(600)]

log = logging.getLogger("kaizala.system")

PAGE = 50
#: Pages per walked group: different sizes, so walks end (and their notifiers fire) while others still walk.
GROUP_PAGES = (150, 200, 250, 300)
#: At most this many messages from the send task.
SENDS = 12
#: A send is "during saturation" when the window before it had at least this share of the limit answered.
SATURATED = 0.9
THROTTLED_TARGET, SEND_WAIT_TARGET = 0.01, 0.1


def run_dag(dep: Deployment, conn_id: str) -> dict[str, Any]:
    """Trigger one run on the connector of ``conn_id``, wait for it to end; its calls and result files."""
    emu, app = dep.emulator, dep.connectors[conn_id]
    sizes = [pages * PAGE for pages in GROUP_PAGES]
    groups = [
        str(
            emu.admin.create_group(
                name=f"Public {conn_id} {i}", groupType="ConnectGroup", admins=[app["phone"]], subscriberCount=size
            )
        )
        for i, size in enumerate(sizes)
    ]
    notify_group = str(emu.admin.create_group(name=f"Ops {conn_id}", groupType="Group", admins=[app["phone"]]))
    results = dep.workdir / "results" / conn_id
    results.mkdir()
    calls_before = emu.admin.calls()
    since = calls_before[-1]["seq"] if calls_before else 0
    run_id = f"system_{conn_id}_{uuid.uuid4().hex[:8]}"
    conf = {
        "conn_id": conn_id,
        "groups": groups,
        "notify_group": notify_group,
        "results": str(results),
        "window": WINDOW,
        "sends": SENDS,
    }
    dep.check_alive()
    t0 = time.monotonic()
    dep.airflow("dags", "trigger", DAG_ID, "--run-id", run_id, "--conf", json.dumps(conf))
    log.info("[%s] triggered %s: %d groups of %s subscribers", conn_id, run_id, len(groups), sizes)
    state, last_note = "", 0.0
    deadline = t0 + RUN_TIMEOUT
    while True:
        rows = dep.query("SELECT state FROM dag_run WHERE run_id = %s", run_id)
        state = rows[0][0] if rows else "not yet created"
        if state in ("success", "failed"):
            break
        dep.check_alive()
        if time.monotonic() > deadline:
            pytest.fail(f"run {run_id} still {state} after {RUN_TIMEOUT:.0f} s")
        if time.monotonic() - last_note >= 10:
            tis = dep.query("SELECT task_id, map_index, state FROM task_instance WHERE run_id = %s", run_id)
            pages = sum(1 for c in emu.admin.calls(since) if c["path"].endswith("/subscribers"))
            log.info(
                "[%s] %.0f s: run %s; tasks %s; %d subscriber pages so far",
                conn_id,
                time.monotonic() - t0,
                state,
                ", ".join(f"{t}{'' if m < 0 else f'[{m}]'}={s}" for t, m, s in sorted(tis)) or "none yet",
                pages,
            )
            last_note = time.monotonic()
        time.sleep(1)
    elapsed = time.monotonic() - t0
    tis = dep.query("SELECT task_id, map_index, state FROM task_instance WHERE run_id = %s", run_id)
    log.info("[%s] run %s ended %s after %.0f s", conn_id, run_id, state, elapsed)
    records = [json.loads(p.read_text()) for p in sorted(results.glob("*.json"))]
    calls = [
        c
        for c in emu.admin.calls(since)
        if c.get("applicationId") == app["applicationId"] and "accessToken" not in c["path"]
    ]
    return {
        "state": state,
        "tis": tis,
        "elapsed": elapsed,
        "groups": dict(zip(groups, sizes, strict=True)),
        "notify_group": notify_group,
        "records": records,
        "calls": calls,
    }


def figures(outcome: dict[str, Any]) -> dict[str, Any]:
    """429 share, send waits during saturation, sustained throughput and walk completion of one run."""
    calls = outcome["calls"]
    ok = sorted(c["ts"] for c in calls if c["status"] == 200)
    throttled = sum(1 for c in calls if c["status"] == 429)
    window_ms = WINDOW * 1000

    def answered_before(ts_ms: float) -> int:
        return sum(1 for t in ok if ts_ms - window_ms <= t <= ts_ms)

    sends = [r for r in outcome["records"] if r["kind"] in ("send", "notify")]
    for send in sends:
        send["saturation"] = answered_before(send["issued"] * 1000) / LIMIT
    during = [s for s in sends if s["saturation"] >= SATURATED]
    walks = [r for r in outcome["records"] if r["kind"] == "walk"]
    pages = sorted(c["ts"] for c in calls if c["status"] == 200 and c["path"].endswith("/subscribers"))
    span = (pages[-1] - pages[0]) / 1000 if len(pages) > 1 else float("nan")
    return {
        "calls": len(calls),
        "throttled": throttled,
        "throttled_share": throttled / max(1, len(calls)),
        "sends": len(sends),
        "sends_saturated": len(during),
        "send_wait_max": max((s["wait"] for s in during), default=float("nan")) / WINDOW,
        "send_wait_max_all": max((s["wait"] for s in sends), default=float("nan")) / WINDOW,
        "sustained": len(ok) / span / (LIMIT / WINDOW) if span == span and span > 0 else float("nan"),
        "walks": walks,
        "walk_workers": sorted({w["worker"] for w in walks}),
        "workers": sorted({r["worker"] for r in outcome["records"]}),
    }


@pytest.mark.parametrize("backend", ["redis", "host"])
def test_the_budget_holds_under_celery(deployment: Deployment, backend: str) -> None:
    deployment.use_backend(backend)
    conn_id = f"kaizala_{backend}"
    outcome = run_dag(deployment, conn_id)
    assert outcome["state"] == "success", outcome["tis"]
    f = figures(outcome)
    log.info(
        "[%s] FIGURES: %d calls, %d answered 429 (%.2f %%); %d sends (%d during saturation), longest wait during "
        "saturation %.3f window (any send %.3f); sustained %.2fx the limit over the walks; walks on workers %s, "
        "tasks on %s; run %.0f s",
        conn_id,
        f["calls"],
        f["throttled"],
        100 * f["throttled_share"],
        f["sends"],
        f["sends_saturated"],
        f["send_wait_max"],
        f["send_wait_max_all"],
        f["sustained"],
        f["walk_workers"],
        f["workers"],
        outcome["elapsed"],
    )
    start = min(r["issued"] for r in outcome["records"] if "issued" in r)
    log.info(
        "[%s] sends (kind, issued at s, wait in windows, budget use in the window before): %s",
        conn_id,
        "; ".join(
            f"{r['kind']} {r['issued'] - start:.1f} {r['wait'] / WINDOW:.3f} {r['saturation']:.2f}"
            for r in sorted(outcome["records"], key=lambda r: r.get("issued", 0))
            if "issued" in r
        ),
    )
    assert {w["backend"] for w in f["walks"]} == {backend}
    assert {w["group"]: (w["people"], w["unique"]) for w in f["walks"]} == {
        group: (size, size) for group, size in outcome["groups"].items()
    }
    assert f["workers"] == ["w1", "w2"], "both Celery workers ran tasks of the run"
    assert f["throttled_share"] <= THROTTLED_TARGET
    assert f["sends_saturated"] >= 3, [
        (s["kind"], round(s["saturation"], 2)) for s in outcome["records"] if "issued" in s
    ]
    assert f["send_wait_max"] <= SEND_WAIT_TARGET
    notifications = [r for r in outcome["records"] if r["kind"] == "notify"]
    assert len(notifications) == len(outcome["groups"]), "the notifier fired once per walk"
    delivered = deployment.emulator.admin.messages(outcome["notify_group"])
    assert len(delivered) == f["sends"], "every send and notification reached the emulator"
    leaks = [
        str(path)
        for path in deployment.workdir.rglob("*.log")
        if path.is_file() and SECRET_MARKER in path.read_text(errors="replace")
    ]
    assert not leaks, "a secret reached a task or process log"
