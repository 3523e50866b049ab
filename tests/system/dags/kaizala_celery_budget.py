"""The DAG of the Celery system test (``tests/system/test_celery_budget.py``): mapped walks of several public
groups at once, a task that sends messages while they run, and a notifier on every walk.

Everything comes from the run's ``conf``: ``conn_id`` (the Kaizala connection), ``groups`` (the public groups to
walk), ``notify_group`` (where messages go), ``results`` (a directory the test reads back), ``window`` (the
throttle window in seconds) and ``sends`` (how many messages the send task issues at most). Each walk, send and
notification writes a JSON file to ``results``; the worker that ran it is the ``KAIZALA_SYSTEM_WORKER``
environment variable the test gives each Celery worker.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_kaizala.notifications.kaizala import KaizalaNotifier


def _write(results: str, kind: str, record: dict[str, Any]) -> None:
    """One result file in ``results`` (written then renamed, so the test never reads half a file)."""
    record = {"kind": kind, "worker": os.environ.get("KAIZALA_SYSTEM_WORKER", "?"), "pid": os.getpid(), **record}
    target = Path(results) / f"{kind}-{uuid.uuid4().hex}.json"
    partial = target.with_suffix(".part")
    partial.write_text(json.dumps(record))
    partial.rename(target)


class TimedNotifier(KaizalaNotifier):
    """A KaizalaNotifier that records when it was issued and how long the send took."""

    def notify(self, context: Any) -> None:
        """Send as the notifier does, and write ``issued`` (epoch s) and ``wait`` (s) to the results."""
        issued, t0 = time.time(), time.perf_counter()
        super().notify(context)
        conf = context["dag_run"].conf
        _write(conf["results"], "notify", {"issued": issued, "wait": time.perf_counter() - t0})


with DAG(
    dag_id="kaizala_celery_budget",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_tasks=16,
    tags=["kaizala", "system-test"],
):

    @task
    def groups(**context: Any) -> list[str]:
        """The groups to walk, from the run's conf."""
        return list(context["dag_run"].conf["groups"])

    @task(
        on_success_callback=TimedNotifier(
            kaizala_conn_id="{{ dag_run.conf['conn_id'] }}",
            group_id="{{ dag_run.conf['notify_group'] }}",
            message="Walk {{ ti.task_id }}[{{ ti.map_index }}] done",
        )
    )
    def walk(group_id: str, **context: Any) -> int:
        """Walk every subscriber of ``group_id``; write how many people (and how many distinct) it saw."""
        from airflow_provider_kaizala.hooks.kaizala import KaizalaHook

        conf = context["dag_run"].conf
        started = time.time()
        _write(conf["results"], "start", {"group": group_id, "at": started})
        hook = KaizalaHook(conf["conn_id"])
        seen: set[str] = set()
        people = 0
        for person in hook.iter_subscribers(group_id):
            people += 1
            seen.add(json.dumps(person, sort_keys=True))
        backend = hook.kaizala_session.budget.backend
        _write(
            conf["results"],
            "walk",
            {"group": group_id, "people": people, "unique": len(seen), "backend": backend, "started": started},
        )
        return people

    @task
    def send(**context: Any) -> int:
        """Once every walk has started, send a message every window while at least one walk is still going."""
        from airflow_provider_kaizala.hooks.kaizala import KaizalaHook

        conf = context["dag_run"].conf
        results, window, walks = Path(conf["results"]), float(conf["window"]), len(conf["groups"])
        hook = KaizalaHook(conf["conn_id"])
        hook.get_access_token()  # a send's wait is then the budget's and the call's, not the token fetch's
        deadline = time.monotonic() + 180
        while len(list(results.glob("start-*.json"))) < walks and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(window)  # the walks saturate the budget
        sent = 0
        while sent < int(conf["sends"]) and len(list(results.glob("walk-*.json"))) < walks:
            issued, t0 = time.time(), time.perf_counter()
            hook.send_message(conf["notify_group"], f"Build {sent} failed")
            wait = time.perf_counter() - t0
            _write(conf["results"], "send", {"issued": issued, "wait": wait})
            sent += 1
            time.sleep(window * (0.6 + 0.3 * (sent % 3)))
        return sent

    walk.expand(group_id=groups())
    send()
