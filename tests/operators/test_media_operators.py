"""Media operators against the emulator over HTTP, checked against the emulator's stored media and actions."""

from __future__ import annotations

import hashlib

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_kaizala.exceptions import KaizalaValidationError
from airflow_provider_kaizala.operators.media import (
    KaizalaSendMediaOperator,
    KaizalaUploadMediaOperator,
    resource_kind,
)
from tests.conftest import Tenant
from tests.operators.conftest import PDF, conn_id, png, run


def uploads(tenant: Tenant) -> list[dict]:
    """Ground truth: the media this tenant's connector uploaded, in upload order."""
    return [m for m in tenant.emulator.admin.media() if m["uploader"] == tenant.application_id]


def write(tmp_path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


# ------------------------------------------------------------------------------------------ upload


def test_upload_a_png(tenant, tmp_path):
    data = png(3, 2)
    result = run(
        KaizalaUploadMediaOperator(
            task_id="up", kaizala_conn_id=conn_id(tenant), files=[write(tmp_path, "site.png", data)]
        )
    )
    [stored] = uploads(tenant)
    assert result == {"mediaResource": stored["mediaResource"], "files": ["site.png"], "kind": "Image"}
    assert stored["actionType"] == "Image"
    [f] = stored["files"]
    assert (f["name"], f["size"], f["contentType"]) == ("site.png", len(data), "image/png")
    assert f["sha256"] == hashlib.sha256(data).hexdigest()
    assert (f["width"], f["height"]) == (3, 2)
    assert resource_kind(result["mediaResource"]) == "Image"


def test_upload_a_document(tenant, tmp_path):
    result = run(
        KaizalaUploadMediaOperator(
            task_id="up", kaizala_conn_id=conn_id(tenant), files=[write(tmp_path, "Report.PDF", PDF)]
        )
    )
    [stored] = uploads(tenant)
    assert result == {"mediaResource": stored["mediaResource"], "files": ["Report.PDF"], "kind": "Document"}
    assert stored["actionType"] == "Document"
    assert [(f["contentType"], f["sha256"]) for f in stored["files"]] == [
        ("application/pdf", hashlib.sha256(PDF).hexdigest())
    ]


def test_upload_an_album_of_two_pngs(tenant, tmp_path):
    first, second = png(1, 1), png(4, 5)
    result = run(
        KaizalaUploadMediaOperator(
            task_id="up",
            kaizala_conn_id=conn_id(tenant),
            files=[write(tmp_path, "a.png", first), write(tmp_path, "b.png", second)],
        )
    )
    [stored] = uploads(tenant)
    assert result == {"mediaResource": stored["mediaResource"], "files": ["a.png", "b.png"], "kind": "Album"}
    assert stored["actionType"] == "Album"
    assert [(f["name"], f["sha256"], f["width"]) for f in stored["files"]] == [
        ("a.png", hashlib.sha256(first).hexdigest(), 1),
        ("b.png", hashlib.sha256(second).hexdigest(), 4),
    ]
    assert resource_kind(result["mediaResource"]) == "Album"


def test_upload_object_storage_paths_and_templates(tenant, tmp_path):
    data = png(2, 2)
    (tmp_path / "photos").mkdir()
    write(tmp_path / "photos", "one.png", data)
    write(tmp_path / "photos", "two.jpg", b"\xff\xd8\xff\xe0fake-jpeg")
    op = KaizalaUploadMediaOperator(
        task_id="up",
        kaizala_conn_id=conn_id(tenant),
        files=["file://{{ params.dir }}/one.png", ObjectStoragePath((tmp_path / "photos" / "two.jpg").as_uri())],
    )
    op.render_template_fields({"params": {"dir": str(tmp_path / "photos")}})
    result = run(op)
    [stored] = uploads(tenant)
    assert result == {"mediaResource": stored["mediaResource"], "files": ["one.png", "two.jpg"], "kind": "Album"}
    assert [f["contentType"] for f in stored["files"]] == ["image/png", "image/jpeg"]
    assert stored["files"][0]["sha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("files", "error"),
    [
        ({"setup.exe": b"MZ"}, r"Invalid file='setup.exe': unsupported media type"),
        ({"empty.png": b""}, r"Invalid files\[0\]='empty.png': the file is empty"),
        ({"big.png": png(40, 40)}, r"Invalid files\[0\]='big.png': larger than"),
        ({"a.png": png(), "b.pdf": PDF}, r"Invalid files=\['a.png', 'b.pdf'\]: several files .* images"),
        ({"a.pdf": PDF, "b.pdf": PDF}, r"Invalid files=.*only as images"),
        ({}, r"Invalid files=\[\]"),
    ],
    ids=["exe", "empty", "too-big", "mixed-album", "two-documents", "no-files"],
)
def test_bad_uploads_fail_before_any_call(tenant, tmp_path, monkeypatch, files, error):
    monkeypatch.setattr("airflow_provider_kaizala.hooks.actions.MAX_MEDIA_BYTES", 100)
    paths = [write(tmp_path, name, data) for name, data in files.items()]
    op = KaizalaUploadMediaOperator(task_id="up", kaizala_conn_id=conn_id(tenant), files=paths)
    with pytest.raises(KaizalaValidationError, match=error):
        op.execute(context={})
    assert tenant.calls() == []
    assert uploads(tenant) == []


def test_a_missing_file_and_a_single_string_fail_before_any_call(tenant, tmp_path):
    missing = KaizalaUploadMediaOperator(
        task_id="up", kaizala_conn_id=conn_id(tenant), files=[str(tmp_path / "nowhere.png")]
    )
    with pytest.raises(KaizalaValidationError, match=r"files\[0\]='nowhere.png': cannot be read"):
        missing.execute(context={})
    single = KaizalaUploadMediaOperator(task_id="up", kaizala_conn_id=conn_id(tenant), files="{{ params.path }}")
    single.render_template_fields({"params": {"path": write(tmp_path, "a.png", png())}})
    with pytest.raises(KaizalaValidationError, match=r"Invalid files='.*a.png': expected a list of paths"):
        single.execute(context={})
    assert tenant.calls() == []


# -------------------------------------------------------------------------------------------- send


def test_send_files_uploads_and_posts_an_image(tenant, tmp_path):
    data = png()
    result = run(
        KaizalaSendMediaOperator(
            task_id="send",
            kaizala_conn_id=conn_id(tenant),
            group_id=tenant.group_id,
            files=[write(tmp_path, "gate.png", data)],
            caption="The north gate",
        )
    )
    [stored] = uploads(tenant)
    [action] = tenant.emulator.admin.actions(tenant.group_id)
    assert result == {
        "referenceId": action["referenceId"],
        "actionId": None,  # a media post is answered with its referenceId only
        "mediaResource": stored["mediaResource"],
        "actionType": "Image",
    }
    assert action["actionType"] == "Image"
    assert action["actionBody"]["caption"] == "The north gate"
    assert [m["mediaFileName"] for m in action["actionBody"]["media"]] == ["gate.png"]
    assert action["sender"] == tenant.connector["phone"]


def test_send_an_uploaded_album_by_resource_infers_the_type(tenant, tmp_path):
    upload = run(
        KaizalaUploadMediaOperator(
            task_id="up",
            kaizala_conn_id=conn_id(tenant),
            files=[write(tmp_path, "a.png", png()), write(tmp_path, "b.png", png(2, 2))],
        )
    )
    op = KaizalaSendMediaOperator(
        task_id="send",
        kaizala_conn_id=conn_id(tenant),
        group_id="{{ params.group }}",
        media_resource="{{ params.resource }}",
        caption="Two views",
    )
    op.render_template_fields({"params": {"group": tenant.group_id, "resource": upload["mediaResource"]}})
    result = run(op)
    [action] = tenant.emulator.admin.actions(tenant.group_id)
    assert result["actionType"] == action["actionType"] == "Album"
    assert result["mediaResource"] == upload["mediaResource"]
    assert [m["mediaFileName"] for m in action["actionBody"]["media"]] == ["a.png", "b.png"]
    assert len(uploads(tenant)) == 1  # no second upload


def test_send_a_document_to_all_subscribers(tenant, tmp_path):
    result = run(
        KaizalaSendMediaOperator(
            task_id="send",
            kaizala_conn_id=conn_id(tenant),
            group_id=tenant.public_group_id,
            files=[write(tmp_path, "terms.pdf", PDF)],
            send_to_all_subscribers="true",
        )
    )
    [action] = tenant.emulator.admin.actions(tenant.public_group_id)
    assert (action["actionType"], action["sendToAllSubscribers"]) == ("Document", True)
    assert result["referenceId"] == action["referenceId"]


def test_a_single_image_may_be_sent_as_an_album(tenant, tmp_path):
    result = run(
        KaizalaSendMediaOperator(
            task_id="send",
            kaizala_conn_id=conn_id(tenant),
            group_id=tenant.group_id,
            files=[write(tmp_path, "a.png", png())],
            action_type="album",
        )
    )
    [action] = tenant.emulator.admin.actions(tenant.group_id)
    assert result["actionType"] == action["actionType"] == "Album"


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"action_type": "Document"}, r"Invalid action_type='Document': the media is Image"),
        ({"action_type": "Sticker"}, r"Invalid action_type='Sticker'"),
        ({"group_id": "bad group"}, r"Invalid group_id='bad group'"),
        ({"caption": 42}, r"Invalid caption=42"),
        ({"subscribers": ["12345"]}, r"subscribers\[0\]='12345'"),
        ({"media_resource": "abc"}, r"exactly one of files or media_resource"),
        ({"files": None}, r"exactly one of files or media_resource"),
        ({"files": None, "media_resource": "bm90LWEtcmVzb3VyY2U="}, r"does not say its type; pass action_type"),
        ({"files": ["{{ params.dir }}/x.exe"]}, r"Invalid file='x.exe'"),
    ],
)
def test_bad_sends_fail_before_any_call_even_the_upload(tenant, tmp_path, args, error):
    write(tmp_path, "x.exe", b"MZ")
    fields = {"group_id": tenant.group_id, "files": [write(tmp_path, "p.png", png())], **args}
    op = KaizalaSendMediaOperator(task_id="send", kaizala_conn_id=conn_id(tenant), **fields)
    op.render_template_fields({"params": {"dir": str(tmp_path)}})
    with pytest.raises(KaizalaValidationError, match=error):
        op.execute(context={})
    assert tenant.calls() == []
    assert uploads(tenant) == []
