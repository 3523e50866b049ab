"""Unit tests of membership snapshots and diffs (pure, no I/O except a temp directory)."""

from __future__ import annotations

import json
import random

import pytest

from airflow_provider_kaizala.exceptions import KaizalaValidationError
from airflow_provider_kaizala.membership import (
    MembershipSnapshot,
    SnapshotStore,
    check_options,
    commit_diff,
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


def test_store_commit_writes_diff_and_promotes_baseline(tmp_path):
    store = SnapshotStore(str(tmp_path / "g" / "subscribers.snapshot"))
    assert store.load() is None
    before = MembershipSnapshot.from_people(person(n) for n in range(10))
    store.save(before)
    after = MembershipSnapshot.from_people(person(n) for n in range(5, 12))
    store.save_pending(after)
    assert store.load_pending().values == after.values
    summary = commit_diff(store, before.diff(after), None, 3)
    store.drop_pending()
    assert store.load().values == after.values
    assert store.load_pending() is None
    with open(summary["diffPath"].removeprefix("file://")) as handle:
        lines = [json.loads(line) for line in handle]
    assert sorted(r["mobileNumber"] for r in lines if r["change"] == "removed") == [f"+9198{n:08d}" for n in range(5)]
    assert len(lines) == 7


def test_options_are_validated():
    assert check_options("Subscribers", "ADDED", "3") == ("subscribers", "added", 3)
    for bad in [("people", "any", 1), ("members", "some", 1), ("members", "any", 0), ("members", "any", "x")]:
        with pytest.raises(KaizalaValidationError):
            check_options(*bad)
