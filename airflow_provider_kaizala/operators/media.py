"""Operators for media: upload files, and send them to a group as an Image, Album, Audio, Document or Video."""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_kaizala.exceptions import KaizalaValidationError
from airflow_provider_kaizala.hooks.actions import MEDIA_ACTION_TYPES, media_body, media_kind
from airflow_provider_kaizala.hooks.validation import (
    MAX_MESSAGE_LENGTH,
    audience,
    validate_choice,
    validate_id,
    validate_text,
)
from airflow_provider_kaizala.operators.base import KaizalaAudienceOperator, KaizalaBaseOperator
from airflow_provider_kaizala.storage import storage_path

#: ``ActionType`` codes inside a ``mediaResource`` (reference §5.6): 3 image (several files: an Album).
_RESOURCE_KINDS = {3: "Image", 5: "Audio", 6: "Document", 10: "Video"}


def media_files(files: Any, field: str = "files") -> list[Any]:
    """The rendered ``files`` as the hook takes them: strings become ``ObjectStoragePath`` (``s3://``, ``file://``...).

    ``(name, bytes)`` pairs and path objects are kept as they are; the hook checks names, types and sizes.
    """
    if isinstance(files, (str, bytes, Mapping)) or not isinstance(files, Sequence):
        raise KaizalaValidationError(
            f"Invalid {field}={files!r:.80}: expected a list of paths (a Jinja template renders to a string "
            "unless the DAG sets render_template_as_native_obj=True)."
        )
    if not files:
        raise KaizalaValidationError(f"Invalid {field}=[]: expected at least one file.")
    result: list[Any] = []
    for index, item in enumerate(files):
        if isinstance(item, str):
            if not item.strip():
                raise KaizalaValidationError(f"Invalid {field}[{index}]={item!r}: expected a path.")
            result.append(storage_path(item.strip()))
        else:
            result.append(item)
    return result


def _file_name(item: Any) -> str:
    if isinstance(item, tuple) and len(item) == 2:
        return str(item[0])
    name = getattr(item, "name", None)
    return str(name) if name is not None else os.path.basename(str(item))


def files_kind(files: list[Any]) -> str:
    """The media action type of files: their kind, or ``Album`` for several (images only; the hook checks)."""
    kinds = [media_kind(_file_name(item)) for item in files]
    return "Album" if len(kinds) > 1 else kinds[0]


def resource_kind(media_resource: str) -> str | None:
    """The media action type encoded in a ``mediaResource`` (``None`` when it cannot be read)."""
    try:
        blob = json.loads(base64.b64decode(media_resource, validate=True))
        kind = _RESOURCE_KINDS.get(blob["ActionType"])
        several = len(blob.get("Files") or []) > 1
    except (binascii.Error, ValueError, TypeError, KeyError):
        return None
    return "Album" if kind == "Image" and several else kind


def _compatible(wanted: str, actual: str) -> bool:
    """Kaizala accepts a media resource for its own type, and a single image for an Album."""
    return wanted == actual or (wanted == "Album" and actual == "Image")


class KaizalaUploadMediaOperator(KaizalaBaseOperator):
    """Upload files to Kaizala and return the ``mediaResource`` that media actions and announcements use.

    Files are local paths or ``ObjectStoragePath`` URLs (``s3://bucket/photo.jpg``, ``file:///data/report.pdf``,
    anything an installed filesystem reads). Several files are allowed only when all are images (an Album).
    Types, emptiness and the size limit are checked before any call. An upload may be repeated safely (an
    orphaned upload has no visible effect).

    :param files: the files to upload (templated).
    :return: ``{"mediaResource", "files": [names], "kind"}`` with kind ``Image``, ``Album``, ``Audio``,
        ``Document`` or ``Video``.
    """

    files: list[Any]

    def call(self, context: Any) -> dict[str, Any]:
        """Upload the files."""
        files = media_files(self.files)
        kind = files_kind(files)
        resource = self.hook.upload_media(files)
        names = [_file_name(item) for item in files]
        self.log.info("Uploaded %d file(s) as one %s media resource.", len(names), kind)
        return {"mediaResource": resource, "files": names, "kind": kind}


class KaizalaSendMediaOperator(KaizalaAudienceOperator):
    """Send media to a group (or to subscribers of a public group) as an Image, Album, Audio, Document or Video.

    Give either ``files`` (uploaded first, like :class:`KaizalaUploadMediaOperator`) or the ``media_resource``
    of an earlier upload. The action type is inferred from the files or the resource, or given; everything is
    checked before the upload. The send is never repeated when its outcome is unknown
    (``KaizalaOutcomeUnknownError``); set ``retries=0`` on this task if a re-run must not send again.

    :param group_id: the group (templated).
    :param files: paths or ``ObjectStoragePath`` URLs to upload and send (templated); or
    :param media_resource: a ``mediaResource`` from an upload (templated).
    :param caption: text shown with the media (templated).
    :param action_type: ``Image``, ``Album``, ``Audio``, ``Document`` or ``Video``; inferred when omitted
        (templated).
    :param subscribers: deliver only to these subscribers of a public group (templated).
    :param send_to_all_subscribers: deliver to every subscriber of a public group (templated).
    :return: ``{"referenceId", "actionId", "mediaResource", "actionType"}``; ``actionId`` is ``None`` when
        Kaizala answers a media post with its ``referenceId`` only (as documented).
    """

    files: list[Any] | None = None
    media_resource: str | None = None
    caption: str | None = None
    action_type: str | None = None
    template_fields_renderers = {"caption": "md"}

    def _action_type(self, files: list[Any] | None) -> str:
        wanted = validate_choice(self.action_type, "action_type", MEDIA_ACTION_TYPES) if self.action_type else None
        if files is not None:
            actual: str | None = files_kind(files)
        else:
            actual = resource_kind(validate_text(self.media_resource, "media_resource", 10**6))
        if wanted is None and actual is None:
            raise KaizalaValidationError(
                "Invalid action_type=None: the media_resource does not say its type; pass action_type."
            )
        if wanted is not None and actual is not None and not _compatible(wanted, actual):
            raise KaizalaValidationError(f"Invalid action_type={wanted!r}: the media is {actual}, not {wanted}.")
        return str(wanted or actual)

    def call(self, context: Any) -> dict[str, Any]:
        """Check everything (the upload and the post are two calls), upload the files if given, post the media."""
        if (self.files is None) == (self.media_resource is None):
            raise KaizalaValidationError("Invalid media: pass exactly one of files or media_resource.")
        validate_id(self.group_id, "group_id")
        audience(self.subscribers, self.send_to_all_subscribers)
        files = media_files(self.files) if self.files is not None else None
        action_type = self._action_type(files)
        if self.caption is not None:
            validate_text(self.caption, "caption", MAX_MESSAGE_LENGTH, allow_empty=True)
        resource = self.hook.upload_media(files) if files is not None else str(self.media_resource)
        body = media_body(resource, self.caption)
        result = self.hook.post_action(self.group_id, body, action_type=action_type, **self.audience)
        self.log.info("Sent %s action %s to group %s.", action_type, result.get("actionId"), self.group_id)
        return {
            "referenceId": result.get("referenceId"),
            "actionId": result.get("actionId"),
            "mediaResource": resource,
            "actionType": action_type,
        }
