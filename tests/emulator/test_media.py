"""Media MD1/MD2, §5.6: multipart upload, 415 / 413, albums, mediaResource blob, media by URL."""

from __future__ import annotations

import base64
import hashlib
import json
import struct

import pytest
import requests

from airflow_provider_kaizala.emulator.services import RouteRules, route_rules
from tests.emulator.conftest import ADMIN, assert_error, make_client, served_by


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


def test_media_routes_declare_their_rules_answer_and_errors(emu):
    client = make_client(emu)
    calls = [
        ("/v1/media", {"files": {"files": ("a.png", png(), "image/png")}}, "multipart"),
        ("/v1/media/url", {"json": {"mediaUrl": "https://example.com/a.png"}}, "json"),
    ]
    for path, kw, body in calls:
        resp = client.call("POST", path.removeprefix("/v1"), **kw)
        assert resp.status_code == 200, resp.text
        route = served_by(emu, "POST", path)
        assert route_rules(route.openapi_extra) == RouteRules("resource", "media.read", body)
        route.response_model.model_validate_json(resp.content, strict=True)
        assert set(route.responses) == {400, 415}, path
    upload = served_by(emu, "POST", "/v1/media").openapi_extra["requestBody"]["content"]["multipart/form-data"]
    assert "image/png" in upload["encoding"]["files"]["contentType"]
    for path in ("/_emulator/media", "/_emulator/media/x"):
        route = served_by(emu, "GET", path)
        assert route_rules(route.openapi_extra).kind == "admin"
        assert route.include_in_schema is False


def multipart(*parts: bytes, boundary: bytes = b"b0undary") -> bytes:
    return b"".join(b"--" + boundary + b"\r\n" + p + b"\r\n" for p in parts) + b"--" + boundary + b"--\r\n"


def file_part(
    data: bytes, *, disposition: bytes = b'form-data; name="files"; filename="a.pdf"', ctype=b"application/pdf"
):
    return b"Content-Disposition: " + disposition + b"\r\nContent-Type: " + ctype + b"\r\n\r\n" + data


def test_file_bytes_names_and_part_types_are_kept_exactly(emu):
    client = make_client(emu)
    # CRLFs, a boundary prefix on its own line and the boundary not at a line start (RFC 2046: not a delimiter)
    tricky = b"\r\n--b0undar\r\n\r\nx--b0undary\x00\xff\r\n"
    body = multipart(
        b'Content-Disposition: form-data; name="note"\r\n\r\nnot a file',  # a plain field is ignored
        file_part(tricky, ctype=b"Application/PDF; x=1"),
    )
    resp = client.call("POST", "/media", data=body, headers={"Content-Type": "multipart/form-data; boundary=b0undary"})
    assert resp.status_code == 200, resp.text
    [stored] = emu.admin.media()
    [f] = stored["files"]
    assert (f["name"], f["size"], f["contentType"]) == ("a.pdf", len(tricky), "application/pdf")
    assert f["sha256"] == hashlib.sha256(tricky).hexdigest()
    resp = client.call("POST", "/media", files={"files": ("фото 1.png", png(), "image/png")})
    assert resp.status_code == 200, resp.text
    assert blob(resp.json()["mediaResource"])["Files"][0]["Name"] == "фото 1.png"


def test_the_admin_view_of_one_file(emu):
    client = make_client(emu)
    resource = client.call("POST", "/media", files={"files": ("a.png", png(), "image/png")}).json()["mediaResource"]
    [stored] = emu.admin.media()
    file_id = stored["files"][0]["id"]
    resp = requests.get(f"{emu.url}/_emulator/media/{file_id}", timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.json() == stored
    assert resp.json()["mediaResource"] == resource
    assert_error(requests.get(f"{emu.url}/_emulator/media/nope", timeout=10), 404, "NotFound")


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("multipart/form-data", multipart(file_part(b"x")), 400),  # no boundary
        ("multipart/form-data; boundary=b0undary", b"not multipart at all", 400),
        ("multipart/form-data; boundary=b0undary", multipart(file_part(b"x")).replace(b"\r\n", b"\n"), 400),
        ("multipart/form-data; boundary=b0undary", b"", 400),
        # RFC 7578 4.2: every part has a name (any name is taken; a part without one is refused)
        (
            "multipart/form-data; boundary=b0undary",
            multipart(file_part(b"x", disposition=b'form-data; filename="a.pdf"')),
            400,
        ),
        ("application/x-www-form-urlencoded", b"files=x", 415),
        ("text/plain", multipart(file_part(b"x")), 415),
    ],
)
def test_malformed_or_non_multipart_bodies(emu, content_type, body, status):
    client = make_client(emu)
    resp = client.call("POST", "/media", data=body, headers={"Content-Type": content_type})
    assert_error(resp, status, "InvalidParameters" if status == 400 else "UnsupportedMediaType")
    assert emu.admin.media() == []


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data; boundary=b0undary",
        'Multipart/Form-Data; BOUNDARY="b0undary"',  # RFC 9110: type and parameter names are case-insensitive
        "multipart/form-data; charset=utf-8; boundary=b0undary",
    ],
)
def test_the_body_content_type_in_any_case(emu, content_type):
    client = make_client(emu)
    body = multipart(file_part(b"%PDF-1.4"))
    resp = client.call("POST", "/media", data=body, headers={"Content-Type": content_type})
    assert resp.status_code == 200, resp.text
    assert emu.admin.media()[0]["files"][0]["size"] == len(b"%PDF-1.4")


def test_an_rfc_2231_file_name_is_never_a_server_error(emu):
    """RFC 7578 4.2 forbids ``filename*`` in form data: python-multipart 0.0.8 to 0.0.29 decode it, 0.0.30 and later
    ignore it (then the part is a plain field and the upload has no file); 0.0.7 failed with a 500."""
    client = make_client(emu)
    body = multipart(
        file_part(b"%PDF", disposition=b"form-data; name=\"files\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf")
    )
    resp = client.call("POST", "/media", data=body, headers={"Content-Type": "multipart/form-data; boundary=b0undary"})
    if resp.status_code == 200:
        assert emu.admin.media()[0]["files"][0]["name"] == "résumé.pdf"
    else:
        assert_error(resp, 400, "InvalidParameters")
