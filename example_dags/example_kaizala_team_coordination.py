"""Team coordination: a quick poll, a Let's Meet, an announcement and a custom action card.

Each action type has its own typed operator, validated before anything is sent; a custom action package
takes the raw body the package defines. The connector's user answers the poll and the meeting invitation
itself so the DAG can read the results back.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_kaizala.operators.actions import (
    KaizalaGetActionOperator,
    KaizalaPostActionResponseOperator,
    KaizalaPostAnnouncementOperator,
    KaizalaPostCustomActionOperator,
    KaizalaPostLetsMeetOperator,
    KaizalaPostPollOperator,
)
from airflow_provider_kaizala.operators.groups import KaizalaListGroupsOperator

GROUP_ID = "{{ ti.xcom_pull(task_ids='find_team_group')['groupIds'][0] }}"

with DAG(
    dag_id="example_kaizala_team_coordination",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"group_name": "Field Operations"},
    tags=["kaizala", "example"],
    doc_md=__doc__,
) as dag:
    find_group = KaizalaListGroupsOperator(
        task_id="find_team_group", fetch_all_groups=True, name="{{ params.group_name }}"
    )

    # [START howto_operator_kaizala_post_poll]
    poll = KaizalaPostPollOperator(
        task_id="post_poll",
        group_id=GROUP_ID,
        question="Team lunch on Friday?",
        choices=["Pizza", "Salad", "Not this week"],
        expiry_in_hours=48,
    )
    vote = KaizalaPostActionResponseOperator(
        task_id="vote",
        group_id=GROUP_ID,
        action_id="{{ ti.xcom_pull(task_ids='post_poll')['actionId'] }}",
        action_type="Poll",
        action_body={"answers": ["Pizza"]},
    )
    # [END howto_operator_kaizala_post_poll]

    # [START howto_operator_kaizala_post_lets_meet]
    meeting = KaizalaPostLetsMeetOperator(
        task_id="post_meeting",
        group_id=GROUP_ID,
        title="Weekly review",
        starting_time="{{ (logical_date + macros.timedelta(days=1)).replace(hour=9, minute=0).isoformat() }}",
        duration_minutes=45,
        agenda="Open jobs, survey results, next week's visits.",
        place={"latitude": 28.6139, "longitude": 77.209, "name": "Delhi office"},
    )
    accept = KaizalaPostActionResponseOperator(
        task_id="accept_meeting",
        group_id=GROUP_ID,
        action_id="{{ ti.xcom_pull(task_ids='post_meeting')['actionId'] }}",
        action_type="LetsMeet",
        action_body={"answers": ["Yes"]},
    )
    # [END howto_operator_kaizala_post_lets_meet]

    # [START howto_operator_kaizala_post_announcement]
    announce = KaizalaPostAnnouncementOperator(
        task_id="post_announcement",
        group_id=GROUP_ID,
        title="New safety checklist",
        message="From {{ ds }}, every site visit starts with the updated safety checklist.",
    )
    # [END howto_operator_kaizala_post_announcement]

    # [START howto_operator_kaizala_post_custom_action]
    custom = KaizalaPostCustomActionOperator(
        task_id="post_custom_card",
        group_id=GROUP_ID,
        package_id="com.example.kaizala.shiftcheck.1",
        action_body={
            "title": "Shift check-in",
            "validity": 12,
            "properties": [{"name": "site", "type": "Text", "value": "Warehouse 7"}],
        },
    )
    # [END howto_operator_kaizala_post_custom_action]

    poll_results = KaizalaGetActionOperator(
        task_id="poll_results",
        group_id=GROUP_ID,
        action_id="{{ ti.xcom_pull(task_ids='post_poll')['actionId'] }}",
        get_details=True,
    )

    find_group >> [poll, meeting, announce, custom]
    poll >> vote >> poll_results
    meeting >> accept
