"""Media upload (MD1 ``POST /v1/media``, MD2 ``POST /v1/media/url``).

The multipart body is split with a small exact parser (boundary split; part headers parsed by the stdlib
``email`` header parser), so no third-party multipart package is needed and file bytes are never altered.
Only metadata (name, size, type, sha256, image size) is stored; the bytes are dropped.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import struct
from email.parser import BytesHeaderParser
from email.policy import HTTP
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_kaizala.emulator.routing import Router
from airflow_provider_kaizala.emulator.state import MediaFile, MediaResource
from airflow_provider_kaizala.emulator.wire import ApiError, Reply, Request, bad_request, not_found

#: extension -> (action type, accepted part Content-Types)
EXTENSIONS: dict[str, tuple[str, frozenset[str]]] = {
    ".jpg": ("Image", frozenset({"image/jpeg", "image/jpg", "image/pjpeg"})),
    ".jpeg": ("Image", frozenset({"image/jpeg", "image/jpg", "image/pjpeg"})),
    ".png": ("Image", frozenset({"image/png"})),
    ".mp3": ("Audio", frozenset({"audio/mpeg", "audio/mp3", "audio/mpeg3"})),
    ".wav": ("Audio", frozenset({"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave"})),
    ".doc": ("Document", frozenset({"application/msword"})),
    ".docx": ("Document", frozenset({"application/vnd.openxmlformats-officedocument.wordprocessingml.document"})),
    ".xls": ("Document", frozenset({"application/vnd.ms-excel"})),
    ".xlsx": ("Document", frozenset({"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"})),
    ".ppt": ("Document", frozenset({"application/vnd.ms-powerpoint"})),
    ".pptx": ("Document", frozenset({"application/vnd.openxmlformats-officedocument.presentationml.presentation"})),
    ".pdf": ("Document", frozenset({"application/pdf"})),
    ".mp4": ("Video", frozenset({"video/mp4"})),
    ".3gpp": ("Video", frozenset({"video/3gpp"})),
}
#: ``ActionType`` codes inside the mediaResource blob (Album is an image resource with several files).
ACTION_TYPE_CODES = {"Image": 3, "Album": 3, "Audio": 5, "Document": 6, "Video": 10}
MEDIA_TYPES = ("Image", "Album", "Audio", "Document", "Video")
CDN = "https://cdn.kascore.osi.office.net"
#: Placeholder ``Thumbnail`` of image resources (base64 of a JPEG header; opaque to clients, like the real one).
_THUMB = (
    "/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAP//////////////////////////////////////////////////////////////////////////"
    "////////////wgALCAABAAEBAREA/8QAFBABAAAAAAAAAAAAAAAAAAAAAP/aAAgBAQABPxA="
)
_header_parser = BytesHeaderParser(policy=HTTP)


class UnsupportedMedia(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(415, message)


def is_media_path(path: str) -> bool:
    """Whether the request goes to ``/v1/media`` (it gets the media size limit instead of 4 MiB)."""
    return path.rstrip("/").lower() in ("/v1/media", "/v1/media/url")


def _boundary(content_type: str) -> bytes:
    headers = _header_parser.parsebytes(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n")
    if headers.get_content_type() != "multipart/form-data":
        raise UnsupportedMedia("Content-Type must be multipart/form-data")
    boundary = headers.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise bad_request("multipart/form-data body without a boundary")
    return boundary.encode("latin-1")


def parse_multipart(content_type: str, body: bytes) -> list[tuple[str | None, str | None, str | None, bytes]]:
    """``[(part name, filename, part Content-Type or None, bytes)]`` of a multipart/form-data body."""
    delimiter = b"--" + _boundary(content_type)
    pieces = body.split(delimiter)
    if len(pieces) < 3 or not pieces[-1].startswith(b"--"):
        raise bad_request("Malformed multipart/form-data body")
    parts = []
    for piece in pieces[1:-1]:
        if piece.startswith(b"\r\n"):
            piece = piece[2:]
        if piece.endswith(b"\r\n"):
            piece = piece[:-2]
        head, sep, data = piece.partition(b"\r\n\r\n")
        if not sep:
            raise bad_request("Malformed multipart/form-data part (no header end)")
        headers = _header_parser.parsebytes(head + b"\r\n\r\n")
        name = headers.get_param("name", header="content-disposition")
        filename = headers.get_filename()
        ctype = headers.get("content-type")
        parts.append(
            (
                name if isinstance(name, str) else None,
                filename,
                headers.get_content_type() if ctype else None,
                data,
            )
        )
    return parts


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG or baseline/progressive JPEG, if it can be read from the header."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                i += 2
                continue
            (length,) = struct.unpack(">H", data[i + 2 : i + 4])
            if marker in (0xC0, 0xC1, 0xC2):
                height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                return width, height
            i += 2 + length
    return None


def _extension(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot >= 0 else ""


def encode_resource(action_type: str, files: list[MediaFile]) -> str:
    """The opaque ``mediaResource``: base64 of the JSON blob the real service used."""
    blob: dict[str, Any] = {
        "Thumbnail": _THUMB if action_type in ("Image", "Album") else "",
        "ActionType": ACTION_TYPE_CODES[action_type],
        "Files": [],
    }
    for f in files:
        item: dict[str, Any] = {"Id": f.file_id, "Name": f.name, "Size": math.ceil(f.size / 1024), "Url": f.url}
        if f.width is not None:
            item["Height"], item["Width"] = f.height, f.width
        blob["Files"].append(item)
    return base64.b64encode(json.dumps(blob, separators=(",", ":")).encode()).decode()


def upload(req: Request) -> Reply:
    ctype = req.headers.get("content-type")
    if not ctype:
        raise UnsupportedMedia("Content-Type multipart/form-data is required")
    parts = parse_multipart(ctype, req.raw_body)
    state = req.app.state
    files: list[MediaFile] = []
    kinds: set[str] = set()
    for _name, filename, part_type, data in parts:
        if filename is None:
            continue  # a plain form field, not a file
        if part_type is None:
            raise UnsupportedMedia(f"File part {filename!r} has no Content-Type")
        ext = _extension(filename)
        known = EXTENSIONS.get(ext)
        if known is None:
            raise UnsupportedMedia(f"Unsupported file type {ext or '(none)'} of {filename!r}")
        kind, accepted = known
        if part_type not in accepted:
            raise UnsupportedMedia(f"Content-Type {part_type} does not match the extension of {filename!r}")
        kinds.add(kind)
        file_id = state.new_guid()
        digest = hashlib.sha256(data).hexdigest()
        size = image_size(data) if kind == "Image" else None
        files.append(
            MediaFile(
                file_id=file_id,
                name=filename,
                size=len(data),
                content_type=part_type,
                url=f"{CDN}/{digest[:32]}{ext}?sv=2017-04-17&sr=b&sp=r&sig={file_id.replace('-', '')[:24]}",
                sha256=digest,
                width=size[0] if size else (640 if kind == "Image" else None),
                height=size[1] if size else (640 if kind == "Image" else None),
            )
        )
    if not files:
        raise bad_request("No file part in the multipart body")
    if len(kinds) > 1:
        raise bad_request("All files of one upload must be of the same kind (images, audio, documents or videos)")
    kind = kinds.pop()
    if len(files) > 1:
        if kind != "Image":
            raise bad_request("Only images can be uploaded together (an Album)")
        kind = "Album"
    return Reply({"mediaResource": _store(req, kind, files, None)})


def _store(req: Request, kind: str, files: list[MediaFile], source_url: str | None) -> str:
    state = req.app.state
    resource = encode_resource(kind, files)
    assert req.connector is not None
    state.media[resource] = MediaResource(
        resource, kind, files, req.connector.application_id, state.clock.now(), source_url
    )
    return resource


def upload_url(req: Request) -> Reply:
    url = req.json().get("mediaurl")
    if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
        raise bad_request("Parameter mediaUrl is required and must be an http(s) URL")
    try:
        parts = urlsplit(url)
        path, _host = parts.path, parts.hostname
    except ValueError:
        raise bad_request("Parameter mediaUrl is not a valid URL") from None
    name = path.rsplit("/", 1)[-1] or "media"
    known = EXTENSIONS.get(_extension(name))
    if known is None:
        raise UnsupportedMedia(f"Unsupported file type of {url!r}")
    kind, accepted = known
    state = req.app.state
    size = (640, 640) if kind == "Image" else None
    media_file = MediaFile(
        state.new_guid(),
        name,
        0,
        sorted(accepted)[0],
        url,
        width=size[0] if size else None,
        height=size[1] if size else None,
    )
    return Reply({"mediaResource": _store(req, kind, [media_file], url)})


def lookup(req: Request, resource: Any, name: str) -> MediaResource:
    """The stored media of a ``mediaResource`` string issued by this emulator (400 otherwise)."""
    if not isinstance(resource, str) or not resource:
        raise bad_request(f"Parameter {name} is required and must be a mediaResource string")
    found = req.app.state.media.get(resource)
    if found is None:
        raise bad_request(f"Parameter {name} is not a mediaResource issued by this service")
    return found


# -- admin -------------------------------------------------------------------------------------------
def admin_media(req: Request) -> Reply:
    return Reply({"media": [m.to_json() for m in req.app.state.media.values()]})


def admin_media_one(req: Request) -> Reply:
    for m in req.app.state.media.values():
        if any(f.file_id == req.params["fileId"] for f in m.files):
            return Reply(m.to_json())
    raise not_found(f"Media file {req.params['fileId']} not found")


def register(router: Router) -> None:
    router.add("POST", "/v1/media", upload, permission="media.read", body="multipart")
    router.add("POST", "/v1/media/url", upload_url, permission="media.read")
    router.add("GET", "/_emulator/media", admin_media, kind="admin")
    router.add("GET", "/_emulator/media/{fileId}", admin_media_one, kind="admin")
