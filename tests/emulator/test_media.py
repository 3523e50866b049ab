"""Media MD1/MD2, §5.6: multipart upload, 415 / 413, albums, mediaResource blob, media by URL."""

from __future__ import annotations

import base64
import json
import struct

import pytest

from tests.emulator.conftest import ADMIN, assert_error, make_client


def png(width: int = 320, height: int = 200, extra: int = 100) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + struct.pack(">II", width, height) + b"\x00" * extra


def blob(resource: str) -> dict:
    return json.loads(base64.b64decode(resource))


def test_upload_image_returns_realistic_media_resource(emu):
    client = make_client(emu)
    resp = client.call("POST", "/media", files={"files": ("photo.png", png(extra=3000), "image/png")})
    assert resp.status_code == 200, resp.text
    resource = resp.json()["mediaResource"]
    data = blob(resource)
    assert data["ActionType"] == 3
    assert data["Thumbnail"]
    [f] = data["Files"]
    assert f["Name"] == "photo.png"
    assert f["Size"] == 3  # KB, rounded up (3,024 bytes)
    assert (f["Width"], f["Height"]) == (320, 200)
    assert f["Url"].startswith("https://")
    assert ".png?" in f["Url"]
    [stored] = emu.admin.media()
    assert stored["mediaResource"] == resource
    assert stored["actionType"] == "Image"
    assert stored["files"][0]["size"] == len(png(extra=3000))
    assert stored["files"][0]["contentType"] == "image/png"


@pytest.mark.parametrize(
    ("part", "kind", "code"),
    [
        (("doc.pdf", b"%PDF-1.4", "application/pdf"), "Document", 6),
        (("song.mp3", b"ID3", "audio/mpeg"), "Audio", 5),
        (("clip.mp4", b"\x00\x00\x00\x18ftyp", "video/mp4"), "Video", 10),
        (("pic.JPEG", b"\xff\xd8\xff", "image/jpeg"), "Image", 3),
    ],
)
def test_supported_kinds_and_any_part_name(emu, part, kind, code):
    client = make_client(emu)
    resp = client.call("POST", "/media", files={"FileName": part})  # [S] part name
    assert resp.status_code == 200, resp.text
    assert blob(resp.json()["mediaResource"])["ActionType"] == code
    assert emu.admin.media()[0]["actionType"] == kind


def test_several_images_make_an_album(emu):
    client = make_client(emu)
    files = [("files", (f"p{i}.jpg", b"\xff\xd8\xff" + bytes([i]) * 10, "image/jpeg")) for i in range(3)]
    resp = client.call("POST", "/media", files=files)
    assert resp.status_code == 200, resp.text
    assert len(blob(resp.json()["mediaResource"])["Files"]) == 3
    assert emu.admin.media()[0]["actionType"] == "Album"
    mixed = [("files", ("a.jpg", b"x", "image/jpeg")), ("files", ("b.pdf", b"y", "application/pdf"))]
    assert_error(client.call("POST", "/media", files=mixed), 400, "InvalidParameters")
    docs = [("files", ("a.pdf", b"x", "application/pdf")), ("files", ("b.pdf", b"y", "application/pdf"))]
    assert_error(client.call("POST", "/media", files=docs), 400, "InvalidParameters")


def test_415_for_missing_or_wrong_content_types(emu):
    client = make_client(emu)
    # no per-part Content-Type (requests omits it when the tuple has no type)
    body = assert_error(client.call("POST", "/media", files={"files": ("a.png", png())}), 415, "UnsupportedMediaType")
    assert "Content-Type" in body["message"]
    # unsupported extension, and a type that does not match the extension
    assert_error(
        client.call("POST", "/media", files={"files": ("a.gif", b"GIF89a", "image/gif")}), 415, "UnsupportedMediaType"
    )
    assert_error(
        client.call("POST", "/media", files={"files": ("a.png", png(), "application/pdf")}), 415, "UnsupportedMediaType"
    )
    assert_error(
        client.call("POST", "/media", files={"files": ("a.png", png(), "application/octet-stream")}),
        415,
        "UnsupportedMediaType",
    )
    # not multipart at all
    assert_error(client.call("POST", "/media", json={"files": "x"}), 415, "UnsupportedMediaType")
    # multipart without a file part
    assert_error(client.call("POST", "/media", files={"note": (None, "hello")}), 400, "InvalidParameters")
    assert emu.admin.media() == []


def test_413_over_the_configured_size_limit(emu):
    client = make_client(emu)
    emu.admin.faults(media_max_bytes=5000)
    resp = client.call("POST", "/media", files={"files": ("a.png", png(extra=6000), "image/png")})
    body = assert_error(resp, 413, "RequestEntityTooLarge")
    assert "5000" in body["message"]
    assert client.call("POST", "/media", files={"files": ("a.png", png(extra=1000), "image/png")}).status_code == 200
    statuses = [c["status"] for c in emu.admin.calls() if c["path"] == "/v1/media"]
    assert statuses == [413, 200]
    emu.admin.reset()
    assert emu.admin.faults()["media_max_bytes"] == 50 * 1024 * 1024


def test_media_body_may_exceed_the_json_limit(emu):
    client = make_client(emu)
    resp = client.call("POST", "/media", files={"files": ("big.pdf", b"%" * (5 * 1024 * 1024), "application/pdf")})
    assert resp.status_code == 200, resp.text
    assert blob(resp.json()["mediaResource"])["Files"][0]["Size"] == 5 * 1024


def test_media_by_url(emu):
    client = make_client(emu)
    resp = client.call("POST", "/media/url", json={"mediaUrl": "https://example.com/x/report.pdf?a=1"})
    assert resp.status_code == 200, resp.text
    [f] = blob(resp.json()["mediaResource"])["Files"]
    assert f["Name"] == "report.pdf"
    assert f["Url"] == "https://example.com/x/report.pdf?a=1"
    assert emu.admin.media()[0]["sourceUrl"] == "https://example.com/x/report.pdf?a=1"
    assert_error(client.call("POST", "/media/url", json={"mediaUrl": "ftp://x/a.png"}), 400, "InvalidParameters")
    assert_error(client.call("POST", "/media/url", json={"MediaUrl": "https://x/a.exe"}), 415, "UnsupportedMediaType")


def test_media_permission_auth_and_faults(emu):
    client = make_client(emu, permissions=["groupinfo.read"])
    files = {"files": ("a.png", png(), "image/png")}
    assert_error(client.call("POST", "/media", files=files), 403, "Forbidden")
    assert_error(client.call("POST", "/media", files=files, token="nope"), 401, "InvalidToken")
    ok = make_client(emu, phone=ADMIN)
    emu.admin.faults(error_rate=1.0, fault_paths="^/v1/media")
    assert ok.call("POST", "/media", files=files).status_code in (500, 502, 503)
    assert emu.admin.calls()[-1]["fault"] == "error"
    assert emu.admin.media() == []
