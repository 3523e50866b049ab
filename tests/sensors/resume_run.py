"""Clear the failed tasks of a DAG's latest run and run them to the end, in process, as a user clearing them
in the UI would have the scheduler do (``airflow dags test`` always starts a new run, so it cannot).

Usage (in an Airflow environment): ``python -m tests.sensors.resume_run <dag_id>``. The loop is the one
``DAG.test`` runs, minus its clearing of the whole run.
"""

from __future__ import annotations

import os
import sys
import time

FAILED = ("failed", "upstream_failed")


def resume(dag_id: str) -> str:
    """Clear and re-run the failed task instances of ``dag_id``'s latest run; return the run's final state."""
    from airflow import settings
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import clear_task_instances
    from airflow.sdk.definitions.dag import _run_task
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.utils.state import DagRunState, TaskInstanceState
    from sqlalchemy import select

    settings.configure_orm()
    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).get_dag(dag_id)
    scheduler_dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    session = settings.Session()
    run = session.scalars(select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.id.desc())).first()
    failed = [ti for ti in run.get_task_instances(session=session) if str(ti.state) in FAILED]
    clear_task_instances(failed, session, dag_run_state=DagRunState.RUNNING)
    session.commit()
    run.dag = scheduler_dag
    while run.state == DagRunState.RUNNING:
        session.expire_all()
        schedulable, _ = run.update_state(session=session)
        for ti in schedulable:
            if ti.state != TaskInstanceState.UP_FOR_RESCHEDULE:
                ti.try_number += 1
            ti.state = TaskInstanceState.SCHEDULED
        session.commit()
        scheduled = [ti for ti in run.get_task_instances(session=session) if ti.state == TaskInstanceState.SCHEDULED]
        if not scheduled:
            time.sleep(0.5)
        for ti in scheduled:
            _run_task(ti=ti, task=dag.task_dict[ti.task_id], run_triggerer=True)
    return str(run.state)


if __name__ == "__main__":
    sys.stdout.write(f"final state: {resume(sys.argv[1])}\n")
