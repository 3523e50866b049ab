"""Unit tests of membership snapshots and diffs (pure, no I/O except a temp directory)."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from airflow_provider_kaizala.exceptions import KaizalaValidationError
from airflow_provider_kaizala.membership import (
    MembershipSnapshot,
    Retention,
    RunRef,
    SnapshotStore,
    check_options,
    default_snapshot_path,
    safe_name,
    write_diff,
)


def person(n: int, provisioned: bool = True, role: str = "Member") -> dict:
    return {"id": f"id-{n}", "mobileNumber": f"+9198{n:08d}", "isProvisioned": provisioned, "role": role}


def reference_diff(before: list[dict], after: list[dict]) -> tuple[set, set, set]:
    old = {p["mobileNumber"]: (p["isProvisioned"], p["role"]) for p in before}
    new = {p["mobileNumber"]: (p["isProvisioned"], p["role"]) for p in after}
    changed = {k for k in old.keys() & new.keys() if old[k] != new[k]}
    return set(new) - set(old), set(old) - set(new), changed


@pytest.mark.parametrize("seed", range(8))
def test_diff_matches_a_set_based_reference(seed):
    rng = random.Random(seed)
    size = rng.choice([0, 1, 5, 5000, 20000])
    before = [person(n, rng.random() < 0.8, rng.choice(["Member", "Admin"])) for n in rng.sample(range(10**6), size)]
    after = [p for p in before if rng.random() > 0.01]
    after = [dict(p, isProvisioned=not p["isProvisioned"]) if rng.random() < 0.005 else p for p in after]
    after += [person(n) for n in rng.sample(range(10**6, 2 * 10**6), rng.choice([0, 3, 500]))]
    rng.shuffle(after)
    diff = MembershipSnapshot.from_people(before).diff(MembershipSnapshot.from_people(after))
    rows = list(diff.rows())
    added, removed, changed = reference_diff(before, after)
    assert {r["mobileNumber"] for r in rows if r["change"] == "added"} == added
    assert {r["mobileNumber"] for r in rows if r["change"] == "removed"} == removed
    assert {r["mobileNumber"] for r in rows if r["change"] == "changed"} == changed
    assert diff.count() == len(added) + len(removed) + len(changed)
    assert diff.count("added") == len(added)
    assert diff.count("removed") == len(removed)


def test_identical_memberships_have_no_diff_and_order_does_not_matter():
    people = [person(n) for n in range(1000)]
    shuffled = list(reversed(people))
    assert MembershipSnapshot.from_people(people).diff(MembershipSnapshot.from_people(shuffled)).count() == 0


def test_role_and_provisioning_changes_are_reported():
    before = MembershipSnapshot.from_people([person(1, True, "Member"), person(2, False, "Admin")])
    after = MembershipSnapshot.from_people([person(1, True, "Admin"), person(2, True, "Admin")])
    rows = list(before.diff(after).rows())
    assert rows == [
        {
            "change": "changed",
            "mobileNumber": "+919800000001",
            "isProvisioned": True,
            "role": "Admin",
            "wasProvisioned": True,
            "previousRole": "Member",
        },
        {
            "change": "changed",
            "mobileNumber": "+919800000002",
            "isProvisioned": True,
            "role": "Admin",
            "wasProvisioned": False,
            "previousRole": "Admin",
        },
    ]


def test_string_booleans_and_odd_numbers():
    odd = {"mobileNumber": "unknown-number", "isProvisioned": "false"}
    snapshot = MembershipSnapshot.from_people([odd, person(3)])
    again = MembershipSnapshot.from_bytes(snapshot.to_bytes())
    assert again.values == snapshot.values
    rows = list(MembershipSnapshot().diff(again).rows())
    assert {r["mobileNumber"] for r in rows} == {"unknown-number", "+919800000003"}
    assert next(r for r in rows if r["mobileNumber"] == "unknown-number")["isProvisioned"] is False


def test_duplicates_from_a_flaky_listing_are_dropped():
    assert len(MembershipSnapshot.from_people([person(1), person(1), person(2)])) == 2


def test_serialisation_round_trip_is_compact():
    snapshot = MembershipSnapshot.from_people(person(n) for n in range(100_000))
    data = snapshot.to_bytes()
    assert len(data) < 8 * 100_000 / 2
    assert MembershipSnapshot.from_bytes(data).values == snapshot.values
    with pytest.raises(ValueError, match="not a Kaizala"):
        MembershipSnapshot.from_bytes(b"garbage")


def test_summary_is_bounded_and_json(tmp_path):
    before = MembershipSnapshot.from_people(person(n) for n in range(100))
    after = MembershipSnapshot.from_people(person(n) for n in range(50, 200))
    diff = before.diff(after)
    summary = diff.summary(sample_size=5)
    assert summary["added"] == 100
    assert summary["removed"] == 50
    assert len(summary["sample"]["added"]) == 5
    json.dumps(summary)


def test_store_candidate_diff_and_pending_change(tmp_path):
    store = SnapshotStore(str(tmp_path / "g" / "subscribers.snapshot"))
    assert store.load() is None
    before = MembershipSnapshot.from_people(person(n) for n in range(10)).with_meta(takenAt=1.0)
    store.save(before)
    after = MembershipSnapshot.from_people(person(n) for n in range(5, 12))
    store.save_candidate(after, "run-1")
    candidate = store.load_candidate("run-1")
    assert candidate.values == after.values
    assert candidate.taken_at > 1.0
    assert store.load_candidate("run-2") is None
    run = RunRef("dag", "wait", "manual__1", ("welcome",))
    summary = write_diff(before.diff(candidate), store.default_diff_path(run), 3)
    store.save_pending(run, candidate.with_meta(**run.to_meta(), diffPath=summary["diffPath"]))
    store.drop_candidate("run-1")
    assert store.load_candidate("run-1") is None
    assert store.load().values == before.values  # handed to a run is not acknowledged
    [(path, pending)] = store.pending()
    assert RunRef.from_meta(pending.meta) == run
    assert store.settle([]) is None
    assert store.load().values == before.values
    assert store.settle([path]).values == after.values
    assert store.load().values == after.values
    assert store.pending() == []
    with open(summary["diffPath"].removeprefix("file://")) as handle:
        lines = [json.loads(line) for line in handle]
    assert sorted(r["mobileNumber"] for r in lines if r["change"] == "removed") == [f"+9198{n:08d}" for n in range(5)]
    assert len(lines) == 7


def snap(values: range, taken_at: float) -> MembershipSnapshot:
    return MembershipSnapshot.from_people(person(n) for n in values).with_meta(takenAt=taken_at)


def test_settle_promotes_the_newest_acknowledged_change_and_never_moves_back(tmp_path):
    store = SnapshotStore(str(tmp_path / "subscribers.snapshot"))
    store.save(snap(range(5), 1.0))
    runs = [RunRef("d", "wait", f"r{i}") for i in range(3)]
    for i, run in enumerate(runs):
        store.save_pending(run, snap(range(5 + i + 1), 2.0 + i).with_meta(**run.to_meta()))
    paths = {RunRef.from_meta(s.meta).run_id: p for p, s in store.pending()}
    # r1 acknowledged, r0 failed, r2 still running: r1 becomes the baseline, r0 can never be promoted.
    assert len(store.settle([paths["r1"]])) == 7
    assert sorted(RunRef.from_meta(s.meta).run_id for _, s in store.pending()) == ["r2"]
    superseded = sorted(p.name for p in store.state_dir.joinpath("superseded").iterdir())
    assert len(superseded) == 2  # the first baseline and r0's snapshot
    # An older change acknowledged late (its failed tasks cleared after r1 succeeded) does not move back.
    store.save_pending(runs[0], snap(range(6), 2.0).with_meta(**runs[0].to_meta()))
    late = next(p for p, s in store.pending() if s.meta["runId"] == "r0")
    assert store.settle([late]) is None
    assert len(store.load()) == 7


def test_retention_keeps_the_newest_files_and_the_diffs_of_pending_changes(tmp_path):
    store = SnapshotStore(str(tmp_path / "subscribers.snapshot"))
    diffs = store.state_dir / "diffs"
    diffs.mkdir(parents=True)
    names = [f"2026010{d}T000000.000000-run.diff.jsonl" for d in range(1, 8)]
    for name in names:
        (diffs / name).write_text("{}\n")
    run = RunRef("d", "wait", "r")
    store.save_pending(run, snap(range(3), 5.0).with_meta(**run.to_meta(), diffPath=str(diffs / names[0])))
    import datetime as dt

    now = dt.datetime(2026, 1, 8, tzinfo=dt.UTC).timestamp()
    deleted = store.prune(Retention(count=3, days=None), now=now)
    assert sorted(p.rsplit("/", 1)[1] for p in deleted) == names[1:4]  # the oldest kept: still pending
    left = sorted(p.name for p in diffs.iterdir())
    assert left == [names[0], *names[4:]]
    deleted = store.prune(Retention(count=None, days=2.5), now=now)
    assert sorted(p.name for p in diffs.iterdir()) == [names[0], *names[5:]]
    assert store.prune(Retention(count=None, days=None), now=now) == []


@pytest.mark.parametrize(
    ("a", "b"), [("a:b@1", "a_b@1"), ("Team", "team"), ("..", "."), ("a/b", "a_b"), ("x" * 300, "x" * 299)]
)
def test_safe_names_are_distinct_and_tame(a, b):
    names = safe_name(a), safe_name(b)
    assert names[0] != names[1]
    for name in names:
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,48}-[0-9a-f]{16}", name), name


def test_default_snapshot_paths_stay_in_their_folder_and_belong_to_one_task(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    root = (tmp_path / "kaizala" / "snapshots").resolve()
    seen = set()
    for group in ["..", ".", "../../etc", "a:b@1", "a_b@1", "g/../../x", "%2e%2e"]:
        for conn, dag, task in [("kaizala_default", "dag", "added"), ("..", "dag", "removed"), ("..", "..", "..")]:
            path = Path(default_snapshot_path(conn, group, "subscribers", dag, task)).resolve()
            assert path.is_relative_to(root), path
            seen.add(path)
    assert len(seen) == 7 * 3


def test_options_are_validated():
    assert check_options("Subscribers", "ADDED", "3") == ("subscribers", "added", 3)
    for bad in [("people", "any", 1), ("members", "some", 1), ("members", "any", 0), ("members", "any", "x")]:
        with pytest.raises(KaizalaValidationError):
            check_options(*bad)


def test_local_paths_are_used_as_written(tmp_path):
    """Before, a bare local path went through a percent-encoded URI that nothing decoded: a file asked for
    at ``my list@1.jsonl`` was written to ``my%20list%401.jsonl``."""
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_kaizala.storage import write_json_lines

    target = tmp_path / "my list" / "a#b?c@1.jsonl"
    written, count = write_json_lines(str(target), [{"a": 1}])
    assert count == 1
    assert target.read_text() == '{"a":1}\n'
    assert ObjectStoragePath(written).read_text() == '{"a":1}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my list"]
