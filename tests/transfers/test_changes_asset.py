"""One walk, two uses (issue 17, point 5): the ETL's Asset event feeds a consumer DAG without a second walk.

Both example DAGs run with ``airflow dags test`` against the emulator, in the Airflow home of
the ``airflow_env`` fixture (``tests/conftest.py``, shared with ``tests/test_example_dags.py``).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from tests.conftest import dags_test

pytestmark = pytest.mark.system


def run(env: dict[str, str], dag_id: str) -> str:
    result = dags_test(env, dag_id)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert "state=failed" not in output.replace(" ", ""), output[-5000:]
    return output


def subscriber_walks(emulator, since: int) -> dict[str, int]:
    """Subscriber pages fetched since ``since``, per group."""
    pages: dict[str, int] = {}
    for call in emulator.admin.calls(since):
        found = re.fullmatch(r"/v1/groups/([^/]+)/subscribers", call["path"])
        if found and call["method"] == "POST":
            pages[found.group(1)] = pages.get(found.group(1), 0) + 1
    return pages


def test_one_walk_feeds_the_warehouse_and_the_consumer_dag(airflow_env, emulator):
    calls = emulator.admin.calls()
    start = calls[-1]["seq"] if calls else 0
    produced = run(airflow_env, "example_kaizala_membership_changes_from_etl")
    middle = emulator.admin.calls()[-1]["seq"]
    consumed = run(airflow_env, "example_kaizala_membership_changes_consumer")

    published = re.search(r"Published (\d+) joined and (\d+) left of kaizala_membership_feed", produced)
    assert published, produced[-3000:]
    joined, left = int(published.group(1)), int(published.group(2))
    reacted = re.search(r"Reacting to (\d+) joined and (\d+) left from 1 event", consumed)
    assert reacted, consumed[-3000:]
    assert (int(reacted.group(1)), int(reacted.group(2))) == (joined, left)

    # The consumer fetched no subscriber page; the producer walked each public group once (the groups keep
    # growing by about one subscriber a second, so their size now bounds the size at the walk).
    assert subscriber_walks(emulator, middle) == {}
    walks = subscriber_walks(emulator, start)
    assert walks, "the producer walked no public group"
    for group_id, pages in walks.items():
        size = len(emulator.admin.subscribers(group_id))
        assert pages <= math.ceil(size / 50) + 1 < 2 * math.ceil((size - 60) / 50), (group_id, pages, size)
    changes = sorted(Path(airflow_env["AIRFLOW_HOME"], "kaizala", "changes").rglob("*.jsonl"))
    assert changes
    rows = [json.loads(line) for line in changes[-1].read_text().splitlines()]
    assert len(rows) == joined + left
