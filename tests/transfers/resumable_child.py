"""A load in a process of its own, as a task's try runs on a worker: ``python -m tests.transfers.resumable_child``.

Argument: one JSON object (conn_id, sql_conn_id, group_id, observed_at, run_id, checkpoint_pages). The task
instance is named in the context the way Airflow names it (``ti`` with dag_id, task_id, run_id, map_index), so
two processes given the same run_id are two tries of one task instance. Prints the load's result as JSON.
"""

from __future__ import annotations

import json
import logging
import sys
from types import SimpleNamespace


def main(raw: str) -> None:
    """Run one try of the load."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    args = json.loads(raw)
    from airflow_provider_kaizala.hooks.kaizala import KaizalaHook
    from airflow_provider_kaizala.hooks.token_store import MemoryRefreshTokenStore
    from airflow_provider_kaizala.transfers.kaizala_to_sql import KaizalaToSqlOperator

    op = KaizalaToSqlOperator(
        task_id="load",
        kaizala_conn_id=args["conn_id"],
        sql_conn_id=args["sql_conn_id"],
        group_id=args["group_id"],
        kind="subscribers",
        observed_at=args["observed_at"],
        checkpoint_pages=args["checkpoint_pages"],
    )
    op.__dict__["hook"] = KaizalaHook(args["conn_id"], refresh_token_store=MemoryRefreshTokenStore())
    ti = SimpleNamespace(dag_id="resumable", task_id="load", run_id=args["run_id"], map_index=-1)
    log = logging.getLogger("resumable_child")
    log.addHandler(logging.StreamHandler(sys.stderr))
    log.propagate = False
    log.setLevel(logging.INFO)
    op._cached_logger = log  # type: ignore[assignment]  # the task's log lines, on stderr for the test to read
    sys.stdout.write(json.dumps(op.execute({"ti": ti})) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
