"""KaizalaMembershipSensor at scale: memory and diff time of one check of a public group of 1,000,000.

One emulator runs in a child process (its own core, throttling disabled) with a public group of N
subscribers (1,000,000; quick 50,000). Every step below runs in its own fresh child process:

1. ``first``: the sensor's first ``poke()`` (no baseline yet: it pages the group and records the baseline
   snapshot, returns False). Then the emulator churns the group (add 1,000, remove 1,000 subscribers).
2. ``check``: the full check, ``poke()`` with that baseline: page the group into a snapshot, load the
   baseline, diff, write the diff as JSON Lines and the new baseline; returns a ``PokeReturnValue``.
   Wall time, API time (time spent inside the hook's page iterator, i.e. HTTP + JSON + normalisation),
   the rest (snapshot building, diff, storage) and the peak RSS growth. **Target: < 150 MB.**
3. ``naive-check``: the same check done naively, for comparison: the baseline kept as a JSON list of
   phone strings, loaded into a Python ``set``; the current subscribers paged into another ``set``; set
   differences; the current list written back as the new baseline.
4. ``diff``: the compact diff alone, from in-memory data (the very subscribers of steps 1 and 2, as the
   API returns them): building both snapshots is timed apart (``SnapshotBuilder.add`` and ``.build()``),
   then ``baseline.diff(current)`` + ``summary()`` is timed. **Target: < 2 s.** Also the snapshot's
   ``to_bytes``/``from_bytes`` and its size.
5. ``naive-diff``: the same in memory with two ``set`` of phone strings and set differences.

The sensor and naive children first do a small warm-up cycle on a 100-subscriber group (first poke,
churn, check), so one-off imports and first-use costs (connection lookup, ``ObjectStoragePath``,
``pendulum``) stay out of the figures: what is measured is the check itself, in a process that already
runs a sensor. The hook keeps rotated refresh tokens in memory (``MemoryRefreshTokenStore``), as in
``hook_paging.py``; its limiter is set so high that it never waits.
Memory is the peak RSS growth during a step, as in ``hook_paging.py``: ``/proc/self/clear_refs`` resets the
peak to the current RSS just before it, and the peak after it (``VmHWM`` of ``/proc/self/status``; ``ru_maxrss``
without /proc) minus the RSS before it is reported (where clear_refs is unavailable, the same difference
without the reset, an upper bound); see ``_common.py``.

    python benchmarks/sensor_scale.py            # 1,000,000 subscribers, 3-6 minutes
    python benchmarks/sensor_scale.py --quick    # 50,000 subscribers, a few seconds
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _common.py, however this script is started
from _common import (
    PAGE,
    Measure,
    child_env,
    connector,
    emulator,
    hook_connection,
    public_group,
    read_setup,
    report,
    row,
    run_child,
    timed_hook,
    verdict,
    write_setup,
)

CONN_ID = "kaizala_bench"
WARMUP_SUBSCRIBERS = 100
MEMORY_TARGET_MB = 150
DIFF_TARGET_S = 2.0


# ------------------------------------------------------------------------------------------ child side


def poke(setup: dict[str, Any], group: str, snapshot: str, api: dict[str, float]) -> Any:
    """One ``KaizalaMembershipSensor.poke`` of ``group`` with baseline file ``snapshot``."""
    from airflow_provider_kaizala.sensors.kaizala import KaizalaMembershipSensor

    sensor = KaizalaMembershipSensor(
        task_id="membership", group_id=group, kind="subscribers", snapshot_path=snapshot, kaizala_conn_id=CONN_ID
    )
    sensor.__dict__["hook"] = timed_hook(CONN_ID, api)  # the cached_property, with the timed page iterator
    return sensor.poke({})


def warm_up(setup: dict[str, Any], tmp: str) -> None:
    """A whole first-poke / churn / check cycle on the small group: imports and first-use costs."""
    from airflow_provider_kaizala.emulator.admin import EmulatorAdmin

    snapshot = os.path.join(tmp, "warmup", "subscribers.snapshot")
    api = {"api": 0.0, "pages": 0}
    assert poke(setup, setup["warmup_group"], snapshot, api) is False
    admin = EmulatorAdmin(setup["url"])
    admin.churn(setup["warmup_group"], "subscribers", add=2, remove=2)
    admin.close()
    assert poke(setup, setup["warmup_group"], snapshot, api) is not False


def step_sensor(setup: dict[str, Any], name: str) -> dict[str, Any]:
    """``first`` (no baseline yet) or ``check`` (baseline from ``first``, group churned since)."""
    from airflow.providers.common.compat.sdk import PokeReturnValue

    with tempfile.TemporaryDirectory(prefix="kaizala-warmup-") as tmp:
        warm_up(setup, tmp)
    api = {"api": 0.0, "pages": 0}
    with Measure() as m:
        outcome = poke(setup, setup["group"], setup["snapshot"], api)
    result: dict[str, Any] = {"wall": m.wall, "api": api["api"], "pages": api["pages"], "mem_kib": m.mem_kib}
    if name == "first":
        assert outcome is False, outcome
    else:
        assert isinstance(outcome, PokeReturnValue), outcome
        assert outcome.is_done, outcome
        summary = outcome.xcom_value
        assert (summary["added"], summary["removed"]) == (setup["add"], setup["remove"]), summary
        result.update({k: summary[k] for k in ("added", "removed", "changed", "baselineCount", "currentCount")})
        result["diff_file_bytes"] = os.path.getsize(urlsplit(summary["diffPath"]).path)  # a file:// URI
    result["snapshot_bytes"] = os.path.getsize(setup["snapshot"])
    result["reset"] = m.reset
    return result


def step_naive_check(setup: dict[str, Any]) -> dict[str, Any]:
    """The naive check: JSON list baseline -> set, paged subscribers -> set, set differences, write back."""
    api = {"api": 0.0, "pages": 0}
    warm = timed_hook(CONN_ID, api)
    assert sum(len(p) for p in warm.iter_subscriber_pages(setup["warmup_group"])) > 0
    api = {"api": 0.0, "pages": 0}
    path = Path(setup["naive_baseline"])
    with Measure() as m:
        hook = timed_hook(CONN_ID, api)
        baseline = set(json.loads(path.read_text()))
        current: set[str] = set()
        for page in hook.iter_subscriber_pages(setup["group"], page_size=PAGE):
            current.update(person["mobileNumber"] for person in page)
        added, removed = current - baseline, baseline - current
        summary = {"added": len(added), "removed": len(removed), "sample": sorted(added)[:10] + sorted(removed)[:10]}
        path.write_text(json.dumps(sorted(current)))
    assert (summary["added"], summary["removed"]) == (setup["add"], setup["remove"]), summary
    return {"wall": m.wall, "api": api["api"], "pages": api["pages"], "mem_kib": m.mem_kib, "reset": m.reset}


def load_numbers(setup: dict[str, Any]) -> tuple[Any, Any]:
    """The baseline's and the current phone numbers (as integers) from the sensor's two snapshots."""
    from array import array

    import airflow_provider_kaizala.emulator.subscribers  # noqa: F401  (imported before any measure)
    from airflow_provider_kaizala.membership import MembershipSnapshot

    out = []
    for key in ("baseline_copy", "current_copy"):
        snapshot = MembershipSnapshot.from_bytes(Path(setup[key]).read_bytes())
        assert not snapshot.odd_numbers
        out.append(array("q", (v >> 8 for v in snapshot.values)))
    return out[0], out[1]


def people(numbers: Any) -> Iterator[dict[str, Any]]:
    """Subscribers exactly as the emulator's API returns them (id, mobileNumber, name, isProvisioned...)."""
    from airflow_provider_kaizala.emulator.subscribers import subscriber_json

    return (subscriber_json(n) for n in numbers)


def step_diff(setup: dict[str, Any]) -> dict[str, Any]:
    """The compact snapshots: build (timed apart), diff + summary, (de)serialise."""
    from airflow_provider_kaizala.membership import MembershipSnapshot, SnapshotBuilder

    old_numbers, new_numbers = load_numbers(setup)
    t0 = time.perf_counter()
    for _ in people(new_numbers):  # the cost of making the dicts alone, to tell it from SnapshotBuilder.add's
        pass
    result: dict[str, Any] = {"make_dicts": time.perf_counter() - t0}
    with Measure() as build:
        snapshots = []
        for label, numbers in (("baseline", old_numbers), ("current", new_numbers)):
            builder = SnapshotBuilder()
            t0 = time.perf_counter()
            builder.add(people(numbers))
            t1 = time.perf_counter()
            snapshots.append(builder.build())
            t2 = time.perf_counter()
            result[f"add_{label}"], result[f"build_{label}"] = t1 - t0, t2 - t1
            del builder
        baseline, current = snapshots
    with Measure() as diffing:
        summary = baseline.diff(current).summary()
    assert (summary["added"], summary["removed"]) == (setup["add"], setup["remove"]), summary
    t0 = time.perf_counter()
    data = current.to_bytes()
    t1 = time.perf_counter()
    again = MembershipSnapshot.from_bytes(data)
    t2 = time.perf_counter()
    assert again.values == current.values
    result.update(
        {
            "diff": diffing.wall,
            "mem_build_kib": build.mem_kib,
            "mem_diff_kib": diffing.mem_kib,
            "to_bytes": t1 - t0,
            "from_bytes": t2 - t1,
            "bytes": len(data),
            "raw_bytes": len(current.values) * 8,
            "reset": build.reset,
        }
    )
    return result


def step_naive_diff(setup: dict[str, Any]) -> dict[str, Any]:
    """Two Python sets of phone strings from the same subscribers, and their differences."""
    old_numbers, new_numbers = load_numbers(setup)
    with Measure() as build:
        baseline = {person["mobileNumber"] for person in people(old_numbers)}
        current = {person["mobileNumber"] for person in people(new_numbers)}
    with Measure() as diffing:
        added, removed = current - baseline, baseline - current
        summary = {"added": len(added), "removed": len(removed), "sample": sorted(added)[:10] + sorted(removed)[:10]}
    assert (summary["added"], summary["removed"]) == (setup["add"], setup["remove"]), summary
    return {
        "build": build.wall,
        "diff": diffing.wall,
        "mem_build_kib": build.mem_kib,
        "mem_diff_kib": diffing.mem_kib,
        "reset": build.reset,
    }


def child(step: str, setup_file: str) -> None:
    """Run one step and print one JSON line with its figures."""
    setup = read_setup(setup_file)
    if step in ("first", "check", "naive-check"):
        # The same kind of process as an Airflow worker running the sensor: Airflow and the sensor imported.
        import airflow_provider_kaizala.sensors.kaizala  # noqa: F401
    if step in ("first", "check"):
        result = step_sensor(setup, step)
    elif step == "naive-check":
        result = step_naive_check(setup)
    elif step == "diff":
        result = step_diff(setup)
    else:
        result = step_naive_diff(setup)
    report({"step": step, **result})


# ----------------------------------------------------------------------------------------- parent side

STEPS = ("first", "check", "naive-check", "diff", "naive-diff")


def run_step(step: str, setup_file: str, env: dict[str, str]) -> dict[str, Any]:
    """Start a fresh interpreter for one step and return its figures."""
    return run_child(__file__, ["--child", step, "--setup", setup_file], env, f"step {step}")


def mib(kib: float) -> str:
    """A memory figure in KiB as MiB, for the tables."""
    return f"{kib / 1024:,.1f} MiB"


def emulator_steps(args: argparse.Namespace, tmp: str, r: dict[str, dict[str, Any]]) -> tuple[str, dict[str, str]]:
    """Start the emulator, run the steps that need it (into ``r``); return the setup file and child env."""
    from airflow_provider_kaizala.membership import MembershipSnapshot

    with emulator() as emu:
        t0 = time.perf_counter()
        app = connector(emu)
        group = public_group(emu, "Bench", args.subscribers)
        warmup_group = public_group(emu, "Warm-up", WARMUP_SUBSCRIBERS)
        print(f"setup: public group of {args.subscribers:,} subscribers in {time.perf_counter() - t0:.2f} s")
        snapshot = os.path.join(tmp, "snapshots", "subscribers.snapshot")
        setup = {
            "url": emu.url,
            "group": group,
            "warmup_group": warmup_group,
            "subscribers": args.subscribers,
            "add": args.add,
            "remove": args.remove,
            "snapshot": snapshot,
            "baseline_copy": os.path.join(tmp, "baseline.snapshot"),
            "current_copy": os.path.join(tmp, "current.snapshot"),
            "naive_baseline": os.path.join(tmp, "naive-baseline.json"),
        }
        setup_file = write_setup(tmp, setup)
        env = child_env(tmp, {CONN_ID: hook_connection(emu, app)})
        r["first"] = run_step("first", setup_file, env)
        shutil.copyfile(snapshot, setup["baseline_copy"])
        # The naive approach keeps its own baseline: the same subscribers as a JSON list of phone strings.
        recorded = MembershipSnapshot.from_bytes(Path(snapshot).read_bytes())
        Path(setup["naive_baseline"]).write_text(json.dumps([recorded.number(v) for v in recorded.values]))
        del recorded
        emu.admin.churn(group, "subscribers", add=args.add, remove=args.remove, seed=20261101)
        r["check"] = run_step("check", setup_file, env)
        shutil.copyfile(snapshot, setup["current_copy"])
        r["naive-check"] = run_step("naive-check", setup_file, env)
    return setup_file, env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--add", type=int, default=1_000, help="subscribers the churn adds between the checks")
    parser.add_argument("--remove", type=int, default=1_000, help="subscribers the churn removes")
    parser.add_argument("--quick", action="store_true", help="50,000 subscribers")
    parser.add_argument("--child", choices=STEPS, help=argparse.SUPPRESS)
    parser.add_argument("--setup", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.setup)
        return 0
    if args.quick:
        args.subscribers = 50_000

    r: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="kaizala-bench-") as tmp:
        setup_file, env = emulator_steps(args, tmp, r)
        # The emulator is stopped by now: the in-memory steps run alone.
        r["diff"] = run_step("diff", setup_file, env)
        r["naive-diff"] = run_step("naive-diff", setup_file, env)

    n = args.subscribers
    first, check, naive, diff, naive_diff = (r[s] for s in STEPS)
    print(
        f"\npublic group of {n:,} subscribers, pages of {PAGE}; churn between the checks: "
        f"+{args.add:,} / -{args.remove:,}; each step in a fresh process"
    )
    widths: tuple[int, ...] = (44, 8, 8, 10, 16)
    print(row(widths, "full check (poke)", "wall s", "API s", "non-API s", "peak RSS growth"))
    for label, x in (
        ("sensor, first poke (records baseline)", first),
        ("sensor, check with baseline (target)", check),
        ("naive: JSON list + set() of strings", naive),
    ):
        times = (f"{t:.2f}" for t in (x["wall"], x["api"], x["wall"] - x["api"]))
        print(row(widths, label, *times, mib(x["mem_kib"])))
    print(
        f"  check result: +{check['added']:,} -{check['removed']:,} ~{check['changed']:,} "
        f"({check['baselineCount']:,} -> {check['currentCount']:,}); {check['pages']:,} pages; "
        f"diff file {check['diff_file_bytes'] / 1024:,.0f} KiB"
    )
    widths = (44, 10, 16)
    print("\n" + row(widths, "diff alone, in memory", "time", "peak RSS growth"))
    rows = [
        ("making the API's dicts alone, 1 list", f"{diff['make_dicts']:.2f} s", ""),
        ("compact: SnapshotBuilder.add, 1 snapshot", f"{diff['add_current']:.2f} s", ""),
        ("  of which SnapshotBuilder.add itself", f"{diff['add_current'] - diff['make_dicts']:.2f} s", ""),
        ("compact: SnapshotBuilder.build(), 1 snapshot", f"{diff['build_current']:.3f} s", ""),
        ("compact: build both snapshots (add+build)", "", mib(diff["mem_build_kib"])),
        ("compact: baseline.diff(current) + summary()", f"{diff['diff']:.3f} s", mib(diff["mem_diff_kib"])),
        ("compact: to_bytes() (zlib 6)", f"{diff['to_bytes']:.3f} s", ""),
        ("compact: from_bytes()", f"{diff['from_bytes']:.3f} s", ""),
        ("naive: both sets (incl. making dicts)", f"{naive_diff['build']:.2f} s", mib(naive_diff["mem_build_kib"])),
        ("naive: set differences + sample", f"{naive_diff['diff']:.3f} s", mib(naive_diff["mem_diff_kib"])),
    ]
    for label, t, m in rows:
        print(row(widths, label, t, m))
    print(
        f"snapshot of {n:,}: {diff['bytes'] / 1e6:.2f} MB serialised ({diff['raw_bytes'] / 1e6:.1f} MB raw int64); "
        f"sensor's file {check['snapshot_bytes'] / 1e6:.2f} MB"
    )
    if not all(x.get("reset", True) for x in r.values()):
        print("  note: /proc/self/clear_refs unavailable; memory is ru_maxrss minus RSS before (upper bound)")

    check_mb = check["mem_kib"] / 1024
    print(
        f"\nsensor check peak RSS growth: {check_mb:.1f} MiB (naive {naive['mem_kib'] / 1024:.1f} MiB); "
        f"diff alone: {diff['diff']:.3f} s (naive set differences {naive_diff['diff']:.3f} s)"
    )
    verdict(
        check_mb < MEMORY_TARGET_MB,
        f"sensor check peak RSS growth {check_mb:.1f} MiB for {n:,} (target < {MEMORY_TARGET_MB} MB)",
    )
    verdict(
        diff["diff"] < DIFF_TARGET_S, f"diff + summary {diff['diff']:.3f} s for {n:,} (target < {DIFF_TARGET_S:g} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
