"""Group administration: create a group and a sub-group, manage members, message the group.

Every operator returns a small JSON value; later tasks read it through Jinja (``ti.xcom_pull``).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_kaizala.operators.actions import KaizalaPostAnnouncementOperator
from airflow_provider_kaizala.operators.groups import (
    KaizalaAddSubGroupOperator,
    KaizalaCreateGroupOperator,
    KaizalaCreateSubGroupOperator,
    KaizalaGetGroupOperator,
    KaizalaListGroupsOperator,
    KaizalaListSubGroupsOperator,
    KaizalaRemoveSubGroupOperator,
)
from airflow_provider_kaizala.operators.members import (
    KaizalaAddMembersOperator,
    KaizalaListMembersOperator,
    KaizalaRemoveMemberOperator,
    KaizalaSetMemberRoleOperator,
)
from airflow_provider_kaizala.operators.messages import KaizalaSendMessageOperator

GROUP_ID = "{{ ti.xcom_pull(task_ids='create_group')['groupId'] }}"

with DAG(
    dag_id="example_kaizala_group_admin",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["kaizala", "example"],
    doc_md=__doc__,
) as dag:
    # [START howto_operator_kaizala_create_group]
    create_group = KaizalaCreateGroupOperator(
        task_id="create_group",
        name="Night shift {{ ds }}",
        welcome_message="Welcome to the night shift team.",
        members=["+919876500001", "+919876500002"],
    )
    # [END howto_operator_kaizala_create_group]

    # [START howto_operator_kaizala_create_subgroup]
    create_subgroup = KaizalaCreateSubGroupOperator(
        task_id="create_subgroup",
        group_id=GROUP_ID,
        name="Night shift supervisors",
        welcome_message="Supervisors only.",
    )
    # [END howto_operator_kaizala_create_subgroup]

    # [START howto_operator_kaizala_add_members]
    add_members = KaizalaAddMembersOperator(
        task_id="add_members",
        group_id=GROUP_ID,
        phone_numbers=["+919876500003", "+919876500004", "+919876500005"],
    )
    # [END howto_operator_kaizala_add_members]

    # [START howto_operator_kaizala_set_member_role]
    promote = KaizalaSetMemberRoleOperator(
        task_id="promote_supervisor", group_id=GROUP_ID, phone_number="+919876500003", role="Admin"
    )
    # [END howto_operator_kaizala_set_member_role]

    # [START howto_operator_kaizala_list_members]
    list_members = KaizalaListMembersOperator(task_id="list_members", group_id=GROUP_ID)
    # [END howto_operator_kaizala_list_members]

    # [START howto_operator_kaizala_remove_member]
    remove_member = KaizalaRemoveMemberOperator(
        task_id="remove_member", group_id=GROUP_ID, phone_number="+919876500005"
    )
    # [END howto_operator_kaizala_remove_member]

    # [START howto_operator_kaizala_send_message]
    announce = KaizalaSendMessageOperator(
        task_id="announce",
        group_id=GROUP_ID,
        message="{{ ti.xcom_pull(task_ids='list_members')['count'] }} people are on the night shift of {{ ds }}.",
    )
    # [END howto_operator_kaizala_send_message]

    post_announcement = KaizalaPostAnnouncementOperator(
        task_id="post_announcement",
        group_id=GROUP_ID,
        title="Welcome to the night shift",
        message="Shifts start at 22:00. Your supervisor is the group admin.",
    )

    # [START howto_operator_kaizala_group_details]
    get_group = KaizalaGetGroupOperator(task_id="get_group", group_id=GROUP_ID)
    list_groups = KaizalaListGroupsOperator(task_id="list_groups", fetch_all_groups=True)
    list_subgroups = KaizalaListSubGroupsOperator(task_id="list_subgroups", group_id=GROUP_ID)
    # [END howto_operator_kaizala_group_details]

    # [START howto_operator_kaizala_attach_subgroup]
    detach = KaizalaRemoveSubGroupOperator(
        task_id="detach_subgroup",
        group_id=GROUP_ID,
        subgroup_id="{{ ti.xcom_pull(task_ids='create_subgroup')['groupId'] }}",
    )
    reattach = KaizalaAddSubGroupOperator(
        task_id="reattach_subgroup",
        group_id=GROUP_ID,
        subgroup_ids=["{{ ti.xcom_pull(task_ids='create_subgroup')['groupId'] }}"],
    )
    # [END howto_operator_kaizala_attach_subgroup]

    create_group >> [create_subgroup, add_members]
    add_members >> promote >> list_members >> remove_member >> announce
    create_subgroup >> detach >> reattach >> list_subgroups
    announce >> post_announcement >> [get_group, list_groups]
