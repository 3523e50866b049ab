"""Job assignment: post a job to a group, list the group's jobs, mark the job done, react to it, read the reactions.

The job is assigned to the connector's own user (the supervisor the demo connector acts for), so the DAG can
mark it done itself with a Job response; in production the assignees respond from their phones and a sensor
or a webhook tells Airflow.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_kaizala.operators.actions import (
    KaizalaListActionsOperator,
    KaizalaPostActionResponseOperator,
    KaizalaPostJobOperator,
)
from airflow_provider_kaizala.operators.groups import KaizalaListGroupsOperator
from airflow_provider_kaizala.operators.reactions import KaizalaAddReactionOperator, KaizalaGetReactionSummaryOperator

GROUP_ID = "{{ ti.xcom_pull(task_ids='find_field_group')['groupIds'][0] }}"
JOB_ID = "{{ ti.xcom_pull(task_ids='post_job')['actionId'] }}"
JOB_REFERENCE = "{{ ti.xcom_pull(task_ids='post_job')['referenceId'] }}"

with DAG(
    dag_id="example_kaizala_job_assignment",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"group_name": "Field Operations", "assignee": "+919810000001"},
    tags=["kaizala", "example"],
    doc_md=__doc__,
) as dag:
    find_group = KaizalaListGroupsOperator(
        task_id="find_field_group", fetch_all_groups=True, name="{{ params.group_name }}"
    )

    # [START howto_operator_kaizala_post_job]
    post_job = KaizalaPostJobOperator(
        task_id="post_job",
        group_id=GROUP_ID,
        title="Service the generator at the depot ({{ ds }})",
        assigned_to=["{{ params.assignee }}"],
        due_in_hours=8,
        retries=0,  # posting is not repeated blindly: an unknown outcome fails the task instead
    )
    # [END howto_operator_kaizala_post_job]

    # [START howto_operator_kaizala_list_actions]
    list_jobs = KaizalaListActionsOperator(
        task_id="list_jobs", group_id=GROUP_ID, action_type="Job", page_size=20, return_list=True
    )
    # [END howto_operator_kaizala_list_actions]

    # [START howto_operator_kaizala_job_done]
    mark_done = KaizalaPostActionResponseOperator(
        task_id="mark_job_done",
        group_id=GROUP_ID,
        action_id=JOB_ID,
        action_type="Job",
        action_body={"isCompleted": True},
    )
    # [END howto_operator_kaizala_job_done]

    # [START howto_operator_kaizala_add_reaction]
    like = KaizalaAddReactionOperator(task_id="like_job", group_id=GROUP_ID, reference_id=JOB_REFERENCE)
    comment = KaizalaAddReactionOperator(
        task_id="comment_on_job",
        group_id=GROUP_ID,
        reference_id=JOB_REFERENCE,
        reaction_type="Comment",
        comment="Done before noon, thanks team.",
    )
    # [END howto_operator_kaizala_add_reaction]

    # [START howto_operator_kaizala_reaction_summary]
    reactions = KaizalaGetReactionSummaryOperator(
        task_id="reaction_summary",
        group_id=GROUP_ID,
        reference_id=JOB_REFERENCE,
        include_details=True,
    )
    # [END howto_operator_kaizala_reaction_summary]

    find_group >> post_job >> list_jobs >> mark_done >> [like, comment] >> reactions
