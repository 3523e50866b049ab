"""Compact membership snapshots and their diffs, shared by the sensor, its trigger and the transfer.

A snapshot is the membership of one group (members or subscribers) reduced to one 64-bit integer per
person, sorted: ``(E.164 digits << 8) | flags`` where the flags hold ``isProvisioned`` (bit 0) and the
``Admin`` role (bit 1). A million subscribers take 8 MB in memory and a few MB on disk, and two
snapshots are compared by a merge walk that skips equal runs at C speed, so memory stays bounded and
the diff is fast whatever the group's size. A phone number that is not plain E.164 digits (never seen
in practice) is kept in a small side table under a hashed key.

Snapshots live in a :class:`SnapshotStore` at an ``ObjectStoragePath`` (local by default, ``s3://`` and
friends for deployments with several workers), so the baseline survives across runs and workers.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
import zlib
from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

PROVISIONED = 1
ADMIN = 2
KINDS = ("members", "subscribers")
CHANGES = ("any", "added", "removed")
_MAGIC = b"KZSNAP1\n"
_ODD_BIT = 1 << 54  # keys of numbers that are not plain E.164 digits (E.164 keys stay below 10**15 < 2**50)
_CHUNK = 4096


def _flags(person: Mapping[str, Any]) -> int:
    provisioned = person.get("isProvisioned", True)
    if isinstance(provisioned, str):
        provisioned = provisioned.lower() == "true"
    return (PROVISIONED if provisioned else 0) | (ADMIN if person.get("role") == "Admin" else 0)


@dataclass
class MembershipSnapshot:
    """The sorted, compact membership of one group."""

    values: array = field(default_factory=lambda: array("q"))
    odd_numbers: dict[int, str] = field(default_factory=dict)

    @classmethod
    def from_people(cls, people: Iterable[Mapping[str, Any]]) -> MembershipSnapshot:
        """Build a snapshot from members or subscribers as the API returns them (any order, streamed)."""
        builder = SnapshotBuilder()
        builder.add(people)
        return builder.build()

    def __len__(self) -> int:
        return len(self.values)

    def number(self, value: int) -> str:
        """The phone number of a packed value."""
        key = value >> 8
        return self.odd_numbers.get(key, f"+{key}")

    def to_bytes(self) -> bytes:
        """Serialise: magic, JSON header, zlib-compressed little-endian int64 array."""
        values = self.values
        if sys.byteorder != "little":
            values = array("q", values)
            values.byteswap()
        header = json.dumps({"count": len(self.values), "odd": {str(k): v for k, v in self.odd_numbers.items()}})
        head = header.encode()
        return _MAGIC + struct.pack("<I", len(head)) + head + zlib.compress(values.tobytes(), 1)

    @classmethod
    def from_bytes(cls, data: bytes) -> MembershipSnapshot:
        """Read what :meth:`to_bytes` wrote."""
        if not data.startswith(_MAGIC):
            raise ValueError("not a Kaizala membership snapshot")
        offset = len(_MAGIC)
        (size,) = struct.unpack_from("<I", data, offset)
        header = json.loads(data[offset + 4 : offset + 4 + size])
        values = array("q")
        values.frombytes(zlib.decompress(data[offset + 4 + size :]))
        if sys.byteorder != "little":
            values.byteswap()
        if len(values) != header["count"]:
            raise ValueError("truncated Kaizala membership snapshot")
        return cls(values, {int(k): v for k, v in header["odd"].items()})

    def diff(self, current: MembershipSnapshot) -> MembershipDiff:
        """What changed from this snapshot (the baseline) to ``current``."""
        return MembershipDiff.between(self, current)


class SnapshotBuilder:
    """Collects people page by page (as they stream in) into a snapshot."""

    def __init__(self) -> None:
        self.values = array("q")
        self.odd: dict[int, str] = {}

    def add(self, people: Iterable[Mapping[str, Any]]) -> None:
        """Add one page (or any iterable) of members or subscribers."""
        append = self.values.append
        for person in people:
            number = str(person.get("mobileNumber") or "")
            digits = number[1:] if number.startswith("+") else ""
            if digits.isdigit() and 0 < len(digits) <= 15 and digits[0] != "0":  # E.164 never starts with 0
                key = int(digits)
            else:
                key = _ODD_BIT | int.from_bytes(hashlib.blake2b(number.encode(), digest_size=6).digest(), "big")
                self.odd[key] = number
            append((key << 8) | _flags(person))

    def build(self) -> MembershipSnapshot:
        """The sorted snapshot (duplicates from a flaky listing are dropped)."""
        ordered = sorted(self.values)
        if any(a == b for a, b in pairwise(ordered)):
            ordered = sorted(set(ordered))
        return MembershipSnapshot(array("q", ordered), self.odd)


@dataclass
class MembershipDiff:
    """Added, removed and changed people between two snapshots (packed values, sorted)."""

    baseline: MembershipSnapshot
    current: MembershipSnapshot
    added: array = field(default_factory=lambda: array("q"))
    removed: array = field(default_factory=lambda: array("q"))
    changed: list[tuple[int, int]] = field(default_factory=list)

    @classmethod
    def between(cls, baseline: MembershipSnapshot, current: MembershipSnapshot) -> MembershipDiff:
        """Merge-walk both sorted arrays, skipping equal chunks at C speed."""
        diff = cls(baseline, current)
        old, new = baseline.values, current.values
        i = j = 0
        n_old, n_new = len(old), len(new)
        while i < n_old and j < n_new:
            if old[i : i + _CHUNK] == new[j : j + _CHUNK]:
                step = min(_CHUNK, n_old - i, n_new - j)
                i += step
                j += step
                continue
            end = min(i + _CHUNK, n_old)
            while i < end and j < n_new:
                a, b = old[i], new[j]
                if a == b:
                    i += 1
                    j += 1
                    continue
                key_a, key_b = a >> 8, b >> 8
                if key_a == key_b:
                    diff.changed.append((a, b))
                    i += 1
                    j += 1
                elif key_a < key_b:
                    diff.removed.append(a)
                    i += 1
                else:
                    diff.added.append(b)
                    j += 1
        diff.removed.extend(old[i:])
        diff.added.extend(new[j:])
        return diff

    def count(self, only: str = "any") -> int:
        """How many changes count for ``only`` (``any``, ``added`` or ``removed``)."""
        if only == "added":
            return len(self.added)
        if only == "removed":
            return len(self.removed)
        return len(self.added) + len(self.removed) + len(self.changed)

    def rows(self) -> Iterator[dict[str, Any]]:
        """Every change as a JSON-ready row, added first, then removed, then changed."""
        for change, values, snapshot in (
            ("added", self.added, self.current),
            ("removed", self.removed, self.baseline),
        ):
            for value in values:
                yield {
                    "change": change,
                    "mobileNumber": snapshot.number(value),
                    "isProvisioned": bool(value & PROVISIONED),
                    "role": "Admin" if value & ADMIN else "Member",
                }
        for before, after in self.changed:
            yield {
                "change": "changed",
                "mobileNumber": self.current.number(after),
                "isProvisioned": bool(after & PROVISIONED),
                "role": "Admin" if after & ADMIN else "Member",
                "wasProvisioned": bool(before & PROVISIONED),
                "previousRole": "Admin" if before & ADMIN else "Member",
            }

    def summary(self, sample_size: int = 10) -> dict[str, Any]:
        """Counts and a bounded sample of phone numbers per change type (JSON-serialisable)."""
        return {
            "added": len(self.added),
            "removed": len(self.removed),
            "changed": len(self.changed),
            "baselineCount": len(self.baseline),
            "currentCount": len(self.current),
            "sample": {
                "added": [self.current.number(v) for v in self.added[:sample_size]],
                "removed": [self.baseline.number(v) for v in self.removed[:sample_size]],
                "changed": [self.current.number(after) for _, after in self.changed[:sample_size]],
            },
        }


class SnapshotStore:
    """Keeps the baseline snapshot of one group at an ``ObjectStoragePath``.

    ``path`` is the baseline file; a candidate taken by a trigger waits next to it (``.pending``)
    until the worker commits it, so a trigger never changes the baseline itself.
    """

    def __init__(self, path: str | ObjectStoragePath) -> None:
        from airflow_provider_kaizala.storage import storage_path

        self.path = storage_path(path)

    @property
    def pending_path(self) -> ObjectStoragePath:
        """Where a trigger leaves the snapshot it took."""
        return self.path.with_name(self.path.name + ".pending")

    def _read(self, path: ObjectStoragePath) -> MembershipSnapshot | None:
        if not path.exists():
            return None
        return MembershipSnapshot.from_bytes(path.read_bytes())

    def _write(self, path: ObjectStoragePath, snapshot: MembershipSnapshot) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(snapshot.to_bytes())

    def load(self) -> MembershipSnapshot | None:
        """The baseline, or None before the first successful check."""
        return self._read(self.path)

    def save(self, snapshot: MembershipSnapshot) -> None:
        """Make ``snapshot`` the baseline."""
        self._write(self.path, snapshot)

    def load_pending(self) -> MembershipSnapshot | None:
        """The candidate a trigger left."""
        return self._read(self.pending_path)

    def save_pending(self, snapshot: MembershipSnapshot) -> None:
        """Leave a candidate for the worker (triggers only)."""
        self._write(self.pending_path, snapshot)

    def drop_pending(self) -> None:
        """Remove the candidate once committed."""
        if self.pending_path.exists():
            self.pending_path.unlink()


def default_snapshot_path(conn_id: str, group_id: str, kind: str) -> str:
    """``$AIRFLOW_HOME/kaizala/snapshots/<conn_id>/<group_id>/<kind>.snapshot`` (a local file)."""
    import os
    import re

    home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
    safe_group = re.sub(r"[^A-Za-z0-9@._-]", "_", group_id)
    safe_conn = re.sub(r"[^A-Za-z0-9@._-]", "_", conn_id)
    return os.path.join(home, "kaizala", "snapshots", safe_conn, safe_group, f"{kind}.snapshot")


def check_options(kind: str, only: str, min_changes: Any) -> tuple[str, str, int]:
    """Validate the sensor's options: which list, which changes count, and how many are needed."""
    from airflow_provider_kaizala.hooks.validation import validate_choice

    kind = validate_choice(kind, "kind", KINDS)
    only = validate_choice(only, "only", CHANGES)
    if isinstance(min_changes, str) and min_changes.strip().isdigit():
        min_changes = int(min_changes)
    if isinstance(min_changes, bool) or not isinstance(min_changes, int) or min_changes < 1:
        from airflow_provider_kaizala.exceptions import KaizalaValidationError

        raise KaizalaValidationError(f"Invalid min_changes={min_changes!r}: expected an integer of at least 1.")
    return kind, only, min_changes


def commit_diff(
    store: SnapshotStore, diff: MembershipDiff, diff_path: str | ObjectStoragePath | None, sample_size: int
) -> dict[str, Any]:
    """Write the full diff as JSON Lines, make the current snapshot the baseline, return the summary."""
    from airflow_provider_kaizala.storage import write_json_lines

    if not diff_path:
        import pendulum

        stamp = pendulum.now("UTC").format("YYYYMMDDTHHmmss.SSSSSS")
        diff_path = store.path.with_name(f"{store.path.stem}-{stamp}.diff.jsonl")
    written, _ = write_json_lines(diff_path, diff.rows())
    store.save(diff.current)
    return {**diff.summary(sample_size), "diffPath": written}
