"""Writing large results to object storage instead of XCom.

Lists that can be large (subscribers, membership diffs) go to a file the user names, through
Airflow's ``ObjectStoragePath`` (local paths, ``s3://``, ``gs://``... whatever filesystems are
installed), as JSON Lines: one object per line, written as the pages arrive.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath


def storage_path(path: str | ObjectStoragePath) -> ObjectStoragePath:
    """An ``ObjectStoragePath`` for a string (a bare local path becomes ``file://``) or the path itself.

    A local path is used exactly as written: ``file://`` plus the absolute path, not a percent-encoded
    URI (``ObjectStoragePath`` does not decode one, so ``/data/my list.jsonl`` would land in
    ``/data/my%20list.jsonl``).
    """
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    if isinstance(path, ObjectStoragePath):
        return path
    text = str(path)
    if "://" not in text:
        from pathlib import Path

        text = "file://" + str(Path(text).absolute())
    return ObjectStoragePath(text)


def write_json_lines(path: str | ObjectStoragePath, rows: Iterable[dict[str, Any]]) -> tuple[str, int]:
    """Stream ``rows`` to ``path`` as JSON Lines; returns the path written and the row count."""
    target = storage_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with target.open("w") as handle:
        for row in rows:
            handle.write(json.dumps(row, separators=(",", ":"), sort_keys=True))
            handle.write("\n")
            count += 1
    return str(target), count
