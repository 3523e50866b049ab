"""Field survey round trip: upload a site photo, send it, post a survey, collect the answers, summarise them.

In production the field team answers the survey on their phones. To make the round trip runnable anywhere,
two tasks answer it through the same connector with ``KaizalaPostActionResponseOperator``, standing in for
the field team. The results are read back with the responses (``get_details=True``), summarised in a Python
task, and the summary is posted to the group.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_kaizala.operators.actions import (
    KaizalaGetActionOperator,
    KaizalaPostActionResponseOperator,
    KaizalaPostSurveyOperator,
)
from airflow_provider_kaizala.operators.groups import KaizalaListGroupsOperator
from airflow_provider_kaizala.operators.media import KaizalaSendMediaOperator, KaizalaUploadMediaOperator
from airflow_provider_kaizala.operators.messages import KaizalaSendMessageOperator

GROUP_ID = "{{ ti.xcom_pull(task_ids='find_field_group')['groupIds'][0] }}"
SURVEY_ID = "{{ ti.xcom_pull(task_ids='post_survey')['actionId'] }}"
#: What two field workers answer (one answer per question, in order).
FIELD_ANSWERS = [["Yes", 12, "All good"], ["No", 4, "Loose cables near the generator"]]


@task
def take_site_photo(path: str) -> str:
    """Stand-in for a camera: write a tiny PNG to ``path`` (local or any ``ObjectStoragePath``) and return it."""
    import struct
    import zlib

    from airflow_provider_kaizala.storage import storage_path

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    width, height = 8, 6
    rows = b"".join(b"\x00" + b"\x30\xa0\x30" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    image = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    target = storage_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(image)
    return str(target)


@task
def summarise(action: dict[str, Any]) -> dict[str, Any]:
    """Count the answers of the survey, per question."""
    details = action["actionDetails"]
    per_question: dict[str, list[Any]] = {}
    for response in details.get("responses", []):
        for item in response["responseDetails"]["responseWithQuestions"]:
            if not item.get("isInvisible"):
                per_question.setdefault(item["title"], []).append(item.get("answer"))
    safe = per_question.get("Is the site safe?", [])
    workers = [n for n in per_question.get("Workers on site", []) if isinstance(n, (int, float))]
    text = (
        f"{details['title']}: {len(details.get('responses', []))} response(s); "
        f"{safe.count('Yes')} safe, {safe.count('No')} not safe; {sum(workers):g} workers on site. "
        f"Notes: {'; '.join(str(n) for n in per_question.get('Notes', []))}"
    )
    return {"responses": len(details.get("responses", [])), "answers": per_question, "text": text}


with DAG(
    dag_id="example_kaizala_field_survey",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"group_name": "Field Operations", "photo_path": "/tmp/kaizala_example/site_photo.png"},
    tags=["kaizala", "example"],
    doc_md=__doc__,
) as dag:
    find_group = KaizalaListGroupsOperator(
        task_id="find_field_group", fetch_all_groups=True, name="{{ params.group_name }}"
    )
    photo = take_site_photo("{{ params.photo_path }}")

    # [START howto_operator_kaizala_upload_media]
    upload = KaizalaUploadMediaOperator(
        task_id="upload_site_photo",
        files=["{{ ti.xcom_pull(task_ids='take_site_photo') }}"],  # a path, or s3://..., gs://..., file://...
    )
    # [END howto_operator_kaizala_upload_media]

    # [START howto_operator_kaizala_send_media]
    send_photo = KaizalaSendMediaOperator(
        task_id="send_site_photo",
        group_id=GROUP_ID,
        media_resource="{{ ti.xcom_pull(task_ids='upload_site_photo')['mediaResource'] }}",
        caption="Site photo for {{ ds }}: please check the marked area before you answer the survey.",
    )
    # [END howto_operator_kaizala_send_media]

    # [START howto_operator_kaizala_post_survey]
    survey = KaizalaPostSurveyOperator(
        task_id="post_survey",
        group_id=GROUP_ID,
        title="Site inspection {{ ds }}",
        questions=[
            {"title": "Is the site safe?", "type": "SingleOption", "options": ["Yes", "No"]},
            {"title": "Workers on site", "type": "Numeric"},
            {"title": "Notes", "type": "Text"},
        ],
        due_in_hours=12,
        retries=0,  # posting is not repeated blindly: an unknown outcome fails the task instead
    )
    # [END howto_operator_kaizala_post_survey]

    # [START howto_operator_kaizala_post_action_response]
    field_responses = [
        KaizalaPostActionResponseOperator(
            task_id=f"field_response_{number}",
            group_id=GROUP_ID,
            action_id=SURVEY_ID,
            action_type="Survey",
            action_body={"answers": answers},
        )
        for number, answers in enumerate(FIELD_ANSWERS, start=1)
    ]
    # [END howto_operator_kaizala_post_action_response]

    # [START howto_operator_kaizala_get_action]
    results = KaizalaGetActionOperator(
        task_id="get_survey_results", group_id=GROUP_ID, action_id=SURVEY_ID, get_details=True
    )
    # [END howto_operator_kaizala_get_action]

    summary = summarise(results.output)
    report = KaizalaSendMessageOperator(
        task_id="post_summary", group_id=GROUP_ID, message="{{ ti.xcom_pull(task_ids='summarise')['text'] }}"
    )

    find_group >> photo >> upload >> send_photo >> survey
    survey >> field_responses[0] >> field_responses[1] >> results
    summary >> report
