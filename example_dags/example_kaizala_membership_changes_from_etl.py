"""One walk, two uses: the membership ETL publishes the period's joins and leaves as an Asset event.

``KaizalaToSqlOperator`` loads every group's members and every public group's subscribers into the warehouse
(with history), writes the people who joined or left since the previous load to a JSON Lines file, and
attaches the counts and the file's path to the event of the ``kaizala_membership_changes`` Asset. DAGs
scheduled on that Asset (``example_kaizala_membership_changes_consumer``) react to the changes without
walking the groups again: one walk per period feeds both the warehouse and change detection.
"""

from __future__ import annotations

import os
from pathlib import Path

import pendulum
from airflow.sdk import DAG, Asset

from airflow_provider_kaizala.transfers.kaizala_to_sql import KaizalaToSqlOperator

CHANGES_DIR = Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow")) / "kaizala" / "changes"

# [START howto_transfer_kaizala_changes_asset]
MEMBERSHIP_CHANGES = Asset("kaizala_membership_changes")

with DAG(
    dag_id="example_kaizala_membership_changes_from_etl",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["kaizala", "example"],
    doc_md=__doc__,
) as dag:
    KaizalaToSqlOperator(
        task_id="load_membership",
        sql_conn_id="kaizala_warehouse",
        table="kaizala_membership_feed",
        include_subscribers=True,
        changes_path=f"{CHANGES_DIR}/{{{{ dag.dag_id }}}}/{{{{ ts_nodash }}}}.jsonl",
        outlets=[MEMBERSHIP_CHANGES],
        retries=2,  # a retry resumes the walk from its last checkpoint
    )
# [END howto_transfer_kaizala_changes_asset]
