"""Pipeline notifications: KaizalaNotifier on task and DAG callbacks.

The DAG-level success callback messages the managers; each task's failure callback messages them
with the log link; ``publish`` reports its result when it succeeds. Messages are Jinja templates rendered
with the callback context. Set the Variable ``kaizala_managers_group`` to the managers' group id.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_kaizala.notifications.kaizala import KaizalaNotifier

#: The managers' group id, from the Airflow Variable ``kaizala_managers_group``.
MANAGERS_GROUP = "{{ var.value.kaizala_managers_group }}"

# [START howto_notifier_kaizala]
on_failure = KaizalaNotifier(
    group_id=MANAGERS_GROUP,
    message="Task {{ ti.task_id }} of {{ dag.dag_id }} failed in run {{ run_id }}.\nLog: {{ ti.log_url }}",
)
on_success = KaizalaNotifier(
    group_id=MANAGERS_GROUP,
    message="{{ dag.dag_id }} finished run {{ run_id }} successfully.",
)
# [END howto_notifier_kaizala]

with DAG(
    dag_id="example_kaizala_notifications",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    on_success_callback=on_success,
    default_args={"on_failure_callback": on_failure},
    tags=["kaizala", "example"],
    doc_md=__doc__,
) as dag:

    @task
    def crunch_numbers() -> int:
        """Stands in for real work."""
        return 42

    # [START howto_notifier_kaizala_task]
    @task(
        on_success_callback=KaizalaNotifier(
            group_id=MANAGERS_GROUP,
            message="Nightly numbers are ready for {{ ds }}: {{ ti.xcom_pull(task_ids='crunch_numbers') }} rows.",
        )
    )
    def publish(rows: int) -> int:
        """Publishes the numbers; its success callback tells the managers."""
        return rows

    # [END howto_notifier_kaizala_task]

    publish(crunch_numbers())
