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
import re
import struct
import sys
import time
import zlib
from array import array
from collections.abc import AsyncIterable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

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
    #: Where the snapshot came from (JSON): ``takenAt`` (epoch seconds), and for pending and baseline
    #: snapshots the run that took it (``dagId``, ``taskId``, ``runId``), its ``consumers`` and ``diffPath``.
    meta: dict[str, Any] = field(default_factory=dict)

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
        header = json.dumps(
            {"count": len(self.values), "odd": {str(k): v for k, v in self.odd_numbers.items()}, "meta": self.meta}
        )
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
        return cls(values, {int(k): v for k, v in header["odd"].items()}, dict(header.get("meta") or {}))

    def with_meta(self, **meta: Any) -> MembershipSnapshot:
        """The same people with ``meta`` merged into the metadata."""
        return MembershipSnapshot(self.values, self.odd_numbers, {**self.meta, **meta})

    @property
    def taken_at(self) -> float:
        """When the snapshot was taken (epoch seconds; 0 when unknown)."""
        return float(self.meta.get("takenAt") or 0.0)

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


def _slug(value: str, limit: int = 48) -> str:
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", value)[:limit]
    return slug or "_"


def safe_name(*parts: str) -> str:
    """An injective, file-system-safe file name for one or more exact strings (ids, run ids...).

    A readable slug of the first part (``[A-Za-z0-9_-]``, at most 48 characters) and 16 hex digits of a
    BLAKE2b hash of all parts exactly, e.g. ``a_b_1-4f0c...``: different inputs (``a:b@1`` and ``a_b@1``,
    ``Team`` and ``team``) give different names, no name is ``.`` or ``..`` or holds a separator, and the
    length is bounded whatever the input.
    """
    digest = hashlib.blake2b("\x00".join(parts).encode(), digest_size=8).hexdigest()
    return f"{_slug(parts[0])}-{digest}"


def _stamp(when: float | None = None) -> str:
    import datetime as dt

    moment = dt.datetime.fromtimestamp(time.time() if when is None else when, dt.UTC)
    return moment.strftime("%Y%m%dT%H%M%S.%f")


@dataclass(frozen=True)
class RunRef:
    """The task instance that consumes a change: a DAG run and the sensor's downstream tasks in it."""

    dag_id: str
    task_id: str
    run_id: str
    consumers: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The run's file name stem (safe, injective)."""
        return safe_name(self.run_id, self.dag_id, self.task_id)

    def to_meta(self) -> dict[str, Any]:
        """JSON for a snapshot header."""
        return {"dagId": self.dag_id, "taskId": self.task_id, "runId": self.run_id, "consumers": list(self.consumers)}

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> RunRef | None:
        """The run recorded in a snapshot header, if any."""
        try:
            return cls(str(meta["dagId"]), str(meta["taskId"]), str(meta["runId"]), tuple(meta.get("consumers") or ()))
        except KeyError:
            return None


@dataclass
class Retention:
    """How many diff files and superseded snapshots are kept: the newest ``count``, none older than ``days``.

    Either limit deletes a file; ``None`` switches that limit off (both ``None``: keep everything).
    """

    count: int | None = 20
    days: float | None = None

    def expired(self, names: list[str], now: float) -> list[str]:
        """The names (which start with a UTC stamp, so sort by age) that fall outside the limits."""
        ordered = sorted(names, reverse=True)
        doomed = set(ordered[self.count :]) if self.count is not None else set()
        if self.days is not None:
            edge = _stamp(now - self.days * 86400.0)
            doomed |= {name for name in ordered if name[: len(edge)] < edge}
        return [name for name in ordered if name in doomed]


def _chunk_name(number: int) -> str:
    return f"chunk-{number:06d}.snapshot"


#: Pages between two checkpoints of a resumable snapshot build (1,000 people, about 15 s at the real limit).
DEFAULT_CHECKPOINT_PAGES = 20
#: A checkpoint older than this (seconds) is discarded instead of resumed: its cursor may have expired, and
#: the people it saved are that old.
DEFAULT_CHECKPOINT_MAX_AGE = 6 * 3600.0


@dataclass
class WalkCheckpoint:
    """Where an interrupted snapshot build stopped: the cursor of its next page and what it saved so far."""

    group_id: str
    kind: str
    cursor: str
    chunks: int = 0
    pages: int = 0
    people: int = 0
    started_at: float = field(default_factory=time.time)
    saved_at: float = field(default_factory=time.time)

    def to_json(self) -> str:
        """The checkpoint file's text."""
        return json.dumps(
            {
                "groupId": self.group_id,
                "kind": self.kind,
                "cursor": self.cursor,
                "chunks": self.chunks,
                "pages": self.pages,
                "people": self.people,
                "startedAt": self.started_at,
                "savedAt": self.saved_at,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> WalkCheckpoint:
        """Read a checkpoint file (``ValueError``/``KeyError``/``TypeError`` when it is not one)."""
        raw = json.loads(text)
        return cls(
            group_id=str(raw["groupId"]),
            kind=str(raw["kind"]),
            cursor=str(raw["cursor"]),
            chunks=int(raw["chunks"]),
            pages=int(raw["pages"]),
            people=int(raw["people"]),
            started_at=float(raw["startedAt"]),
            saved_at=float(raw["savedAt"]),
        )


class SnapshotStore:
    """Keeps the baseline snapshot of one group, and the changes not yet acknowledged, at an ``ObjectStoragePath``.

    ``path`` is the baseline file. Next to it, in ``<path>.d/``:

    * ``pending/<run>.snapshot``: a snapshot whose change was handed to a DAG run and is not acknowledged
      yet (the run's consumers have not all succeeded). It becomes the baseline once they have.
    * ``candidates/<run>.snapshot``: what a trigger saw, waiting for the worker (a trigger never changes
      the baseline itself).
    * ``diffs/<stamp>-<run>.diff.jsonl``: the default place of diff files.
    * ``superseded/<stamp>-<run>.snapshot``: replaced baselines and pending snapshots that a later
      acknowledged change overtook.
    * ``partial/``: the checkpoint of a snapshot build that was interrupted (``checkpoint.json``: the cursor
      of the next page; ``chunk-<n>.snapshot``: the people walked before it), resumed by the next check.

    Diff files and superseded snapshots are pruned by :class:`Retention`; the diff file of a change that
    is still pending is never deleted.
    """

    def __init__(self, path: str | ObjectStoragePath) -> None:
        from airflow_provider_kaizala.storage import storage_path

        self.path = storage_path(path)

    @property
    def state_dir(self) -> ObjectStoragePath:
        """The folder holding pending, candidate, superseded snapshots and default diff files."""
        return self.path.with_name(self.path.name + ".d")

    def _folder(self, name: str) -> ObjectStoragePath:
        return self.state_dir / name

    def _read(self, path: ObjectStoragePath) -> MembershipSnapshot | None:
        if not path.exists():
            return None
        return MembershipSnapshot.from_bytes(path.read_bytes())

    def _write(self, path: ObjectStoragePath, snapshot: MembershipSnapshot) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(snapshot.to_bytes())

    def _files(self, folder: str, suffix: str) -> list[ObjectStoragePath]:
        where = self._folder(folder)
        if not where.exists():
            return []
        return sorted((p for p in where.iterdir() if p.name.endswith(suffix)), key=lambda p: p.name)

    # -- partial walks -------------------------------------------------------------------------------

    @property
    def partial_dir(self) -> ObjectStoragePath:
        """The folder of an interrupted snapshot build's checkpoint."""
        return self._folder("partial")

    def load_partial(
        self, group_id: str, kind: str, max_age: float, log: Any = None
    ) -> tuple[WalkCheckpoint, SnapshotBuilder] | None:
        """The checkpoint of an interrupted build of this list and the people it saved, if usable.

        A checkpoint of another list, older than ``max_age`` seconds, or unreadable is discarded (and said so).
        """
        path = self.partial_dir / "checkpoint.json"
        if not path.exists():
            return None
        try:
            checkpoint = WalkCheckpoint.from_json(path.read_text())
        except (ValueError, KeyError, TypeError):
            why = "it is unreadable"
        else:
            age = time.time() - checkpoint.saved_at
            if (checkpoint.group_id, checkpoint.kind) != (group_id, kind):
                why = f"it belongs to the {checkpoint.kind} of {checkpoint.group_id}"
            elif not 0 <= age <= max_age:
                why = f"it is {age:.0f} s old (checkpoint_max_age {max_age:g} s)"
            else:
                builder = SnapshotBuilder()
                try:
                    for n in range(1, checkpoint.chunks + 1):
                        chunk = MembershipSnapshot.from_bytes((self.partial_dir / _chunk_name(n)).read_bytes())
                        builder.values.extend(chunk.values)
                        builder.odd.update(chunk.odd_numbers)
                except (OSError, ValueError):
                    why = "one of its saved pages is missing or unreadable"
                else:
                    return checkpoint, builder
        if log is not None:
            log.warning("Discarding the checkpoint of an interrupted snapshot build in %s: %s.", self.partial_dir, why)
        self.drop_partial()
        return None

    def save_partial(self, checkpoint: WalkCheckpoint, chunk: MembershipSnapshot) -> None:
        """Save the people of the pages since the last checkpoint, then the checkpoint that names them.

        The chunk is written first: a checkpoint never names people that were not saved (a chunk written by a
        build killed before its checkpoint is simply overwritten by the resumed build).
        """
        folder = self.partial_dir
        folder.mkdir(parents=True, exist_ok=True)
        checkpoint.chunks += 1
        (folder / _chunk_name(checkpoint.chunks)).write_bytes(chunk.to_bytes())
        checkpoint.saved_at = time.time()
        (folder / "checkpoint.json").write_text(checkpoint.to_json())

    def drop_partial(self) -> None:
        """Remove the checkpoint and its saved pages."""
        folder = self.partial_dir
        if not folder.exists():
            return
        checkpoint = folder / "checkpoint.json"
        if checkpoint.exists():
            checkpoint.unlink()
        for path in list(folder.iterdir()):
            if path.name.startswith("chunk-") and path.name.endswith(".snapshot"):
                path.unlink()

    # -- baseline ------------------------------------------------------------------------------------

    def load(self) -> MembershipSnapshot | None:
        """The baseline, or None before the first successful check."""
        return self._read(self.path)

    def save(self, snapshot: MembershipSnapshot) -> None:
        """Make ``snapshot`` the baseline (the one it replaces is kept as superseded)."""
        old = self.load()
        if old is not None:
            self._write(self._folder("superseded") / f"{_stamp()}-baseline.snapshot", old)
        self._write(self.path, snapshot)

    # -- trigger candidates --------------------------------------------------------------------------

    def candidate_path(self, key: str | None = None) -> ObjectStoragePath:
        """Where a trigger leaves the snapshot it took for the run ``key`` (no key: one shared slot)."""
        return self._folder("candidates") / f"{key or 'default'}.snapshot"

    def load_candidate(self, key: str | None = None) -> MembershipSnapshot | None:
        """The snapshot a trigger left."""
        return self._read(self.candidate_path(key))

    def save_candidate(self, snapshot: MembershipSnapshot, key: str | None = None) -> None:
        """Leave a snapshot for the worker (triggers only)."""
        self._write(self.candidate_path(key), snapshot.with_meta(takenAt=time.time()))

    def drop_candidate(self, key: str | None = None) -> None:
        """Remove the candidate once used."""
        path = self.candidate_path(key)
        if path.exists():
            path.unlink()

    # -- changes awaiting acknowledgement ------------------------------------------------------------

    def pending_path(self, run: RunRef) -> ObjectStoragePath:
        """Where the change handed to ``run`` waits for its acknowledgement."""
        return self._folder("pending") / f"{run.key}.snapshot"

    def save_pending(self, run: RunRef, snapshot: MembershipSnapshot) -> None:
        """Record that ``run`` was handed the change up to ``snapshot`` (replaces an earlier one of that run)."""
        self._write(self.pending_path(run), snapshot)

    def pending(self) -> list[tuple[ObjectStoragePath, MembershipSnapshot]]:
        """Every change awaiting acknowledgement, oldest first."""
        found = []
        for path in self._files("pending", ".snapshot"):
            snapshot = self._read(path)
            if snapshot is not None:
                found.append((path, snapshot))
        return sorted(found, key=lambda item: item[1].taken_at)

    def settle(self, acknowledged: Iterable[ObjectStoragePath]) -> MembershipSnapshot | None:
        """Promote the newest acknowledged pending snapshot, if newer than the baseline; tidy up.

        Acknowledged pending snapshots are removed; those not acknowledged but older than the new
        baseline can never be promoted any more and become superseded. Returns the new baseline, or None
        if it did not change.
        """
        done = {str(p) for p in acknowledged}
        entries = self.pending()
        baseline = self.load()
        newest = None
        for path, snapshot in entries:
            if str(path) in done and (newest is None or snapshot.taken_at >= newest.taken_at):
                newest = snapshot
        promoted = None
        if newest is not None and (baseline is None or newest.taken_at > baseline.taken_at):
            self.save(newest)
            baseline = promoted = newest
        for path, snapshot in entries:
            if str(path) in done:
                path.unlink()
            elif baseline is not None and snapshot.taken_at <= baseline.taken_at:
                self._write(self._folder("superseded") / f"{_stamp()}-{path.name}", snapshot)
                path.unlink()
        return promoted

    # -- diffs and retention -------------------------------------------------------------------------

    def default_diff_path(self, run: RunRef | None) -> ObjectStoragePath:
        """``<path>.d/diffs/<stamp>-<run>.diff.jsonl``."""
        return self._folder("diffs") / f"{_stamp()}-{run.key if run else 'direct'}.diff.jsonl"

    def prune(self, retention: Retention, now: float | None = None) -> list[str]:
        """Delete diff files and superseded snapshots outside ``retention``; return what was deleted.

        A diff file that a pending change still points to is kept whatever its age.
        """
        now = time.time() if now is None else now
        keep = {str(snapshot.meta.get("diffPath")) for _, snapshot in self.pending()}
        deleted = []
        for folder, suffix in (("diffs", ".diff.jsonl"), ("superseded", ".snapshot")):
            files = {p.name: p for p in self._files(folder, suffix)}
            for name in retention.expired(list(files), now):
                if str(files[name]) in keep:
                    continue
                files[name].unlink()
                deleted.append(str(files[name]))
        return deleted


def default_snapshot_path(conn_id: str, group_id: str, kind: str, dag_id: str = "", task_id: str = "") -> str:
    """``$AIRFLOW_HOME/kaizala/snapshots/<dag>/<task>/<conn>/<group>/<kind>.snapshot`` (a local file).

    Each part is :func:`safe_name` encoded, so the path never leaves that folder and two different ids
    never share a file; the DAG and task ids make the baseline belong to one consuming task.
    """
    import os

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
    parts = [safe_name(part) for part in (dag_id, task_id, conn_id, group_id)]
    return os.path.join(home, "kaizala", "snapshots", *parts, f"{kind}.snapshot")


def legacy_snapshot_path(conn_id: str, group_id: str, kind: str) -> str | None:
    """Where releases before per-task baselines kept the default baseline (shared by every sensor), or None.

    ``$AIRFLOW_HOME/kaizala/snapshots/<conn_id>/<group_id>/<kind>.snapshot`` with characters outside
    ``[A-Za-z0-9@._-]`` replaced by ``_``, as the percent-encoded ``file://`` URI those releases wrote it
    to (``@`` became a literal ``%40`` on disk); None when a part is made of dots only (such a path left
    its folder).
    """
    import os
    from pathlib import Path

    home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
    parts = [re.sub(r"[^A-Za-z0-9@._-]", "_", part) for part in (conn_id, group_id)]
    if kind not in KINDS or any(not part.strip(".") for part in parts):
        return None
    return Path(os.path.join(home, "kaizala", "snapshots", *parts, f"{kind}.snapshot")).absolute().as_uri()


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


def write_diff(diff: MembershipDiff, diff_path: str | ObjectStoragePath, sample_size: int) -> dict[str, Any]:
    """Write the full diff as JSON Lines to ``diff_path``; return the summary with ``diffPath``."""
    from airflow_provider_kaizala.storage import write_json_lines

    written, _ = write_json_lines(diff_path, diff.rows())
    return {**diff.summary(sample_size), "diffPath": written}


#: A paged walk from a cursor (``None``: page 1): ``(people, next_cursor)`` per page, ``None`` after the last.
PageWalk = Callable[[str | None], Iterable[tuple[list[dict[str, Any]], str | None]]]
#: The same, asynchronous (the trigger's walk).
AsyncPageWalk = Callable[[str | None], AsyncIterable[tuple[list[dict[str, Any]], str | None]]]


class ResumableBuild:
    """The snapshot of a paged list, built page by page with a checkpoint every ``checkpoint_pages`` pages.

    A build interrupted (killed, timed out, its worker or triggerer lost) resumes from its last checkpoint on
    the next check (:meth:`resume` gives the cursor to start from); a checkpoint older than ``max_age``
    seconds is discarded, and one whose cursor the server refuses (HTTP 400 on the first page asked with it)
    restarts the build from page 1 (:meth:`refused`); both are logged. The sync and async drivers are
    :func:`resumable_snapshot` and :func:`aresumable_snapshot`.
    """

    def __init__(
        self,
        store: SnapshotStore,
        group_id: str,
        kind: str,
        *,
        checkpoint_pages: int = DEFAULT_CHECKPOINT_PAGES,
        max_age: float = DEFAULT_CHECKPOINT_MAX_AGE,
        log: Any,
    ) -> None:
        self.store, self.group_id, self.kind = store, group_id, kind
        self.checkpoint_pages, self.max_age, self.log = checkpoint_pages, max_age, log
        self.checkpoint: WalkCheckpoint | None = None
        self.builder = SnapshotBuilder()
        self.chunk = SnapshotBuilder()
        self.since = 0
        self.received = 0

    def resume(self) -> str | None:
        """Load a usable checkpoint; the cursor to start from (``None``: page 1)."""
        resumed = self.store.load_partial(self.group_id, self.kind, self.max_age, self.log)
        if resumed is None:
            return None
        self.checkpoint, self.builder = resumed
        self.log.info(
            "Resuming the snapshot build of the %s of %s from its checkpoint: %d pages and %d people already saved.",
            self.kind,
            self.group_id,
            self.checkpoint.pages,
            self.checkpoint.people,
        )
        return self.checkpoint.cursor

    def remaining(self, total: int | None) -> int | None:
        """``total`` less the people a resumed build already saved: what the walk from here has left (its ETA)."""
        if total is None or self.checkpoint is None:
            return total
        return max(0, total - self.checkpoint.people)

    def refused(self) -> bool:
        """The server refused a request (HTTP 400): True when it was the saved cursor, and the build restarts."""
        if self.checkpoint is None or self.received:
            return False
        self.log.warning(
            "Kaizala no longer accepts the saved cursor of the snapshot build of the %s of %s (HTTP 400): "
            "restarting it from page 1; the %d people saved before are discarded.",
            self.kind,
            self.group_id,
            self.checkpoint.people,
        )
        self.store.drop_partial()
        self.checkpoint, self.builder = None, SnapshotBuilder()
        return True

    def page(self, people: list[dict[str, Any]], cursor: str | None) -> None:
        """One more page, and the cursor of the next; checkpoints every ``checkpoint_pages`` pages."""
        self.received += 1
        self.builder.add(people)
        self.chunk.add(people)
        self.since += 1
        if cursor is None or self.since < self.checkpoint_pages:
            return
        if self.checkpoint is None:
            self.checkpoint = WalkCheckpoint(self.group_id, self.kind, cursor)
        self.checkpoint.cursor = cursor
        self.checkpoint.pages += self.since
        self.checkpoint.people += len(self.chunk.values)
        self.store.save_partial(self.checkpoint, self.chunk.build())
        self.chunk, self.since = SnapshotBuilder(), 0

    def finish(self) -> MembershipSnapshot:
        """The whole list's snapshot; the checkpoint is removed."""
        snapshot = self.builder.build()
        self.store.drop_partial()
        return snapshot


def resumable_snapshot(walk: PageWalk, build: ResumableBuild) -> MembershipSnapshot:
    """Drive ``build`` with a sync paged walk (see :class:`ResumableBuild`)."""
    from airflow_provider_kaizala.exceptions import KaizalaBadRequestError

    cursor = build.resume()
    while True:
        try:
            for people, next_cursor in walk(cursor):
                build.page(people, next_cursor)
            return build.finish()
        except KaizalaBadRequestError:
            if not build.refused():
                raise
            cursor = None


async def aresumable_snapshot(walk: AsyncPageWalk, build: ResumableBuild) -> MembershipSnapshot:
    """Drive ``build`` with an async paged walk; the store is read and written off the event loop."""
    import asyncio

    from airflow_provider_kaizala.exceptions import KaizalaBadRequestError

    cursor = await asyncio.to_thread(build.resume)
    while True:
        try:
            async for people, next_cursor in walk(cursor):
                await asyncio.to_thread(build.page, people, next_cursor)
            return await asyncio.to_thread(build.finish)
        except KaizalaBadRequestError:
            if not await asyncio.to_thread(build.refused):
                raise
            cursor = None
