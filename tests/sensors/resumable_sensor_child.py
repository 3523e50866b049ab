"""One sensor check in a process of its own, as a poke runs on a worker.

Run as ``python -m tests.sensors.resumable_sensor_child``.

Argument: one JSON object (conn_id, group_id, snapshot_path, checkpoint_pages, and ``mode``: ``trigger`` runs
the sensor's trigger until its first event instead of a poke). Prints the poke's outcome as JSON
(``{"done": bool, "summary": ...}``); the sensor's log lines go to stderr.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any


def main(raw: str) -> None:
    """Run one poke of the sensor."""
    args = json.loads(raw)
    from airflow_provider_kaizala.hooks.kaizala import KaizalaHook
    from airflow_provider_kaizala.hooks.token_store import MemoryRefreshTokenStore
    from airflow_provider_kaizala.sensors.kaizala import KaizalaMembershipSensor

    sensor = KaizalaMembershipSensor(
        task_id="wait",
        group_id=args["group_id"],
        kind="subscribers",
        snapshot_path=args["snapshot_path"],
        checkpoint_pages=args["checkpoint_pages"],
        kaizala_conn_id=args["conn_id"],
    )
    sensor.__dict__["hook"] = KaizalaHook(args["conn_id"], refresh_token_store=MemoryRefreshTokenStore())
    log = logging.getLogger("resumable_sensor_child")
    log.addHandler(logging.StreamHandler(sys.stderr))
    log.propagate = False
    log.setLevel(logging.INFO)
    sensor._cached_logger = log  # type: ignore[assignment]  # the task's log lines, on stderr for the test to read
    if args.get("mode") == "trigger":
        import asyncio

        from airflow_provider_kaizala.triggers.kaizala import KaizalaMembershipTrigger

        trigger = KaizalaMembershipTrigger(
            kaizala_conn_id=args["conn_id"],
            group_id=args["group_id"],
            kind="subscribers",
            snapshot_path=args["snapshot_path"],
            poll_interval=0.01,
            checkpoint_pages=args["checkpoint_pages"],
        )
        trigger._log = log  # type: ignore[attr-defined]

        async def first_event() -> Any:
            async for event in trigger.run():
                return event.payload
            return None

        sys.stdout.write(json.dumps({"event": asyncio.run(first_event())}) + "\n")
        return
    outcome = sensor.poke({})
    summary = getattr(outcome, "xcom_value", None)
    sys.stdout.write(json.dumps({"done": bool(getattr(outcome, "is_done", outcome)), "summary": summary}) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
