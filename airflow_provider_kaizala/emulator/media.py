"""Media upload (MD1 ``POST /v1/media``, MD2 ``POST /v1/media/url``) and the admin view of the uploads
(``/_emulator/media``), served by FastAPI.

The multipart body is parsed by Starlette's form parser (python-multipart), which never alters file bytes. The
service takes file parts under any part name (``files`` in the docs, ``FileName`` in the Swagger, several parts for
an album), so the handler reads the whole form instead of declaring one named ``File()`` parameter; the body's
OpenAPI description is declared on the route. Only metadata (name, size, type, sha256, image size) is stored; the
bytes are dropped.

Annotations are evaluated eagerly: FastAPI reads the dependencies declared inside :func:`router` from them.
"""

import base64
import hashlib
import json
import math
import struct
from collections.abc import AsyncGenerator
from email.parser import BytesHeaderParser
from email.policy import HTTP
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Path
from pydantic import Field
from starlette.datastructures import FormData, Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import Response

from airflow_provider_kaizala.emulator.models import Answer, Body, HttpUrl
from airflow_provider_kaizala.emulator.services import Caller, Services, admin, answers, resource
from airflow_provider_kaizala.emulator.state import Connector, MediaFile, MediaResource, State
from airflow_provider_kaizala.emulator.wire import ApiError, bad_request, json_response, not_found

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
#: Content-Types a file part may carry (each must also match the file name's extension, else 415).
PART_TYPES = sorted({t for _, accepted in EXTENSIONS.values() for t in accepted})
CDN = "https://cdn.kascore.osi.office.net"
#: Placeholder ``Thumbnail`` of image resources (base64 of a JPEG header; opaque to clients, like the real one).
_THUMB = (
    "/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAP//////////////////////////////////////////////////////////////////////////"
    "////////////wgALCAABAAEBAREA/8QAFBABAAAAAAAAAAAAAAAAAAAAAP/aAAgBAQABPxA="
)
_header_parser = BytesHeaderParser(policy=HTTP)


class UnsupportedMedia(ApiError):
    """415: the body, or one of its file parts, is not of a media type the service takes."""

    def __init__(self, message: str) -> None:
        super().__init__(415, message)


class MediaByUrl(Body):
    """MD2 body: the http(s) URL of the media (the file name at the end of its path gives the kind)."""

    media_url: Annotated[HttpUrl, Field(alias="mediaUrl")]


class MediaResourceAnswer(Answer):
    """MD1/MD2 answer: the opaque ``mediaResource`` to send in an action."""

    mediaResource: Annotated[str, Field(min_length=1)]


#: The MD1 body (multipart/form-data, any part name; a part with a filename is a file).
UPLOAD_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["files"],
                "properties": {
                    "files": {
                        "type": "string",
                        "format": "binary",
                        "description": "any part name; a part with a filename is a file",
                    }
                },
            },
            "encoding": {"files": {"contentType": ", ".join(PART_TYPES)}},
        }
    },
}


def is_media_path(path: str) -> bool:
    """Whether the request goes to ``/v1/media`` (it gets the media size limit instead of 4 MiB)."""
    return path.rstrip("/").lower() in ("/v1/media", "/v1/media/url")


def _form_boundary(content_type: str | None) -> str:
    """The boundary of a multipart/form-data body: 415 for another or no Content-Type, 400 without a boundary."""
    if not content_type:
        raise UnsupportedMedia("Content-Type multipart/form-data is required")
    headers = _header_parser.parsebytes(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n")
    if headers.get_content_type() != "multipart/form-data":
        raise UnsupportedMedia("Content-Type must be multipart/form-data")
    boundary = headers.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise bad_request("multipart/form-data body without a boundary")
    return boundary


async def _read_form(content_type: str | None, body: AsyncGenerator[bytes, None]) -> FormData:
    """The parts of a multipart/form-data body, however many (the body size limit bounds them).

    The parser is given the Content-Type in one canonical spelling: python-multipart releases before 0.0.33 match
    the media type case-sensitively (``Multipart/Form-Data`` read as no form at all), and the media type and its
    parameter names are case-insensitive (RFC 9110).
    """
    boundary = _form_boundary(content_type)
    quoted = boundary.replace("\\", "\\\\").replace('"', '\\"')
    headers = Headers({"content-type": f'multipart/form-data; boundary="{quoted}"'})
    try:
        return await MultiPartParser(headers, body, max_files=math.inf, max_fields=math.inf).parse()
    except MultiPartException as exc:
        raise bad_request(f"Malformed multipart/form-data body: {exc.message}") from None
    except ValueError:  # python-multipart's own parse errors (FormParserError), when Starlette passes them on
        raise bad_request("Malformed multipart/form-data body") from None


def _media_type(raw: str) -> str:
    """A part's ``Content-Type`` without parameters, lower-cased (``Image/PNG; q=1`` -> ``image/png``)."""
    return raw.split(";", 1)[0].strip().lower()


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


def _uploaded_file(state: State, filename: str, raw_type: str | None, data: bytes) -> tuple[str, MediaFile]:
    """(kind, stored file) of one file part; 415 when its Content-Type is missing, unknown or not its extension's."""
    if not raw_type:
        raise UnsupportedMedia(f"File part {filename!r} has no Content-Type")
    part_type = _media_type(raw_type)
    ext = _extension(filename)
    known = EXTENSIONS.get(ext)
    if known is None:
        raise UnsupportedMedia(f"Unsupported file type {ext or '(none)'} of {filename!r}")
    kind, accepted = known
    if part_type not in accepted:
        raise UnsupportedMedia(f"Content-Type {part_type} does not match the extension of {filename!r}")
    file_id = state.new_guid()
    digest = hashlib.sha256(data).hexdigest()
    size = image_size(data) if kind == "Image" else None
    return kind, MediaFile(
        file_id=file_id,
        name=filename,
        size=len(data),
        content_type=part_type,
        url=f"{CDN}/{digest[:32]}{ext}?sv=2017-04-17&sr=b&sp=r&sig={file_id.replace('-', '')[:24]}",
        sha256=digest,
        width=size[0] if size else (640 if kind == "Image" else None),
        height=size[1] if size else (640 if kind == "Image" else None),
    )


def _store(state: State, conn: Connector, kind: str, files: list[MediaFile], source_url: str | None) -> str:
    resource_id = encode_resource(kind, files)
    state.media[resource_id] = MediaResource(
        resource_id, kind, files, conn.application_id, state.clock.now(), source_url
    )
    return resource_id


def router(services: Services) -> APIRouter:
    """MD1, MD2 and the admin media view, bound to ``services``."""
    api = APIRouter()
    state = services.state

    @api.post(
        "/v1/media",
        openapi_extra={**resource("media.read", body="multipart"), "requestBody": UPLOAD_BODY},
        response_model=MediaResourceAnswer,
        responses=answers(400, 415),
        description="Several images make an Album; other kinds one file per upload.",
    )
    async def upload_media(request: Request, conn: Caller) -> Response:
        form = await _read_form(request.headers.get("content-type"), request.stream())
        try:
            files: list[MediaFile] = []
            kinds: set[str] = set()
            for _name, value in form.multi_items():
                if not isinstance(value, UploadFile) or value.filename is None:
                    continue  # a plain form field, not a file
                kind, media_file = _uploaded_file(state, value.filename, value.content_type, await value.read())
                kinds.add(kind)
                files.append(media_file)
        finally:
            await form.close()
        if not files:
            raise bad_request("No file part in the multipart body")
        if len(kinds) > 1:
            raise bad_request("All files of one upload must be of the same kind (images, audio, documents or videos)")
        kind = kinds.pop()
        if len(files) > 1:
            if kind != "Image":
                raise bad_request("Only images can be uploaded together (an Album)")
            kind = "Album"
        return json_response({"mediaResource": _store(state, conn, kind, files, None)})

    @api.post(
        "/v1/media/url",
        openapi_extra=resource("media.read"),
        response_model=MediaResourceAnswer,
        responses=answers(400, 415),
    )
    async def upload_media_url(body: MediaByUrl, conn: Caller) -> Response:
        url = body.media_url
        name = urlsplit(url).path.rsplit("/", 1)[-1] or "media"
        known = EXTENSIONS.get(_extension(name))
        if known is None:
            raise UnsupportedMedia(f"Unsupported file type of {url!r}")
        kind, accepted = known
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
        return json_response({"mediaResource": _store(state, conn, kind, [media_file], url)})

    @api.get("/_emulator/media", openapi_extra=admin(), include_in_schema=False)
    async def admin_media() -> Response:
        return json_response({"media": [m.to_json() for m in state.media.values()]})

    @api.get("/_emulator/media/{fileId}", openapi_extra=admin(), include_in_schema=False)
    async def admin_media_file(fileId: Annotated[str, Path(description="File id (as listed)")]) -> Response:
        for m in state.media.values():
            if any(f.file_id == fileId for f in m.files):
                return json_response(m.to_json())
        raise not_found(f"Media file {fileId} not found")

    return api
