"""Daily membership ETL: every group's members and every public group's subscribers into a warehouse.

``KaizalaToSqlOperator`` streams the membership into the ``kaizala_warehouse`` connection (SQLite in the
demo; PostgreSQL or any common.sql database in production) and keeps history, so the warehouse answers
"who was a member on date D". A query over the load log then goes to the managers as a Kaizala
message, and any failure is reported to them with the log link.
"""

from __future__ import annotations

import pendulum
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG

from airflow_provider_kaizala.notifications.kaizala import KaizalaNotifier
from airflow_provider_kaizala.operators.messages import KaizalaSendMessageOperator
from airflow_provider_kaizala.transfers.kaizala_to_sql import KaizalaToSqlOperator

MANAGERS_GROUP = "{{ var.value.kaizala_managers_group }}"

with DAG(
    dag_id="example_kaizala_membership_etl",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"on_failure_callback": KaizalaNotifier(group_id=MANAGERS_GROUP)},
    tags=["kaizala", "example"],
    doc_md=__doc__,
) as dag:
    # [START howto_transfer_kaizala_to_sql]
    load = KaizalaToSqlOperator(
        task_id="load_membership",
        sql_conn_id="kaizala_warehouse",
        table="kaizala_membership",
        include_subscribers=True,
        # A walk interrupted by a lost worker or a timeout resumes from its checkpoint only on a retry.
        retries=2,
    )
    # [END howto_transfer_kaizala_to_sql]

    # [START howto_operator_kaizala_query_to_message]
    busiest = SQLExecuteQueryOperator(
        task_id="busiest_groups",
        conn_id="kaizala_warehouse",
        sql="""
            SELECT g.group_name, l.kind, l.present, l.joined, l.left_count
            FROM kaizala_membership_loads l
            JOIN kaizala_membership_groups g ON g.group_id = l.group_id AND g.observed_at = l.observed_at
            WHERE l.observed_at = '{{ ti.xcom_pull(task_ids="load_membership")["observedAt"] }}'
            ORDER BY l.joined + l.left_count DESC, g.group_name
            LIMIT 5
        """,
    )
    report = KaizalaSendMessageOperator(
        task_id="report_to_managers",
        group_id=MANAGERS_GROUP,
        message=(
            "Membership on {{ ds }}: {{ ti.xcom_pull(task_ids='load_membership')['present'] }} people, "
            "{{ ti.xcom_pull(task_ids='load_membership')['joined'] }} joined, "
            "{{ ti.xcom_pull(task_ids='load_membership')['left'] }} left."
            "{% for name, kind, present, joined, left in ti.xcom_pull(task_ids='busiest_groups') %}"
            "\n{{ name }} ({{ kind }}): {{ present }}, +{{ joined }} / -{{ left }}{% endfor %}"
        ),
    )
    # [END howto_operator_kaizala_query_to_message]

    load >> busiest >> report
