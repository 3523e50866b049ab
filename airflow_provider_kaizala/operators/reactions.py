"""Operators for reactions (likes and comments) on messages and actions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_kaizala.hooks.actions import REACTION_TYPES
from airflow_provider_kaizala.hooks.validation import validate_bool, validate_choice, validate_id, validate_message
from airflow_provider_kaizala.operators.base import KaizalaBaseOperator


class KaizalaAddReactionOperator(KaizalaBaseOperator):
    """Like or comment on a message or action (by its ``referenceId``), as the connector's user.

    Liking again is harmless (one like per person: Kaizala returns the same reaction). A comment is not
    repeated when its outcome is unknown: a timeout after the request left raises ``KaizalaOutcomeUnknownError``
    rather than risk commenting twice.

    :param group_id: the group (templated).
    :param reference_id: the message's or action's ``referenceId`` (templated).
    :param reaction_type: ``Like`` or ``Comment`` (templated).
    :param comment: the comment, 1 to 4000 characters; only with ``Comment`` (templated).
    :param source_group_id: the group the reference was posted in when it is a sub-group of ``group_id``
        (templated).
    :return: ``{"reactionId", "referenceId", "reactionType"}``.
    """

    template_fields: Sequence[str] = (
        "kaizala_conn_id",
        "group_id",
        "reference_id",
        "reaction_type",
        "comment",
        "source_group_id",
    )

    def __init__(
        self,
        *,
        group_id: str,
        reference_id: str,
        reaction_type: str = "Like",
        comment: str | None = None,
        source_group_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.group_id = group_id
        self.reference_id = reference_id
        self.reaction_type = reaction_type
        self.comment = comment
        self.source_group_id = source_group_id

    def execute(self, context: Any) -> dict[str, Any]:
        """Add the reaction."""
        kind = validate_choice(self.reaction_type, "reaction_type", REACTION_TYPES)
        if kind == "Comment":
            validate_message(self.comment, "comment")
        result = self.hook.add_reaction(
            self.group_id,
            self.reference_id,
            reaction_type=kind,
            comment=self.comment,
            source_group_id=self.source_group_id or None,
        )
        self.log.info("Added a %s (%s) to %s.", kind, result.get("reactionId"), self.reference_id)
        return {"reactionId": result.get("reactionId"), "referenceId": self.reference_id, "reactionType": kind}


class KaizalaGetReactionSummaryOperator(KaizalaBaseOperator):
    """Count the likes and comments on a message or action; optionally list every reaction.

    :param group_id: the group (templated).
    :param reference_id: the message's or action's ``referenceId`` (templated).
    :param source_group_id: the group the reference was posted in when it is a sub-group of ``group_id``
        (templated).
    :param include_details: also return every reaction (``reactionId``, ``userId``, ``reactionType``,
        ``lastModifiedTime``, ``comment``), walking all pages (templated).
    :return: ``{"referenceId", "like", "comment"}``, plus ``reactions`` with ``include_details``.
    """

    template_fields: Sequence[str] = (
        "kaizala_conn_id",
        "group_id",
        "reference_id",
        "source_group_id",
        "include_details",
    )

    def __init__(
        self,
        *,
        group_id: str,
        reference_id: str,
        source_group_id: str | None = None,
        include_details: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.group_id = group_id
        self.reference_id = reference_id
        self.source_group_id = source_group_id
        self.include_details = include_details

    def execute(self, context: Any) -> dict[str, Any]:
        """Read the summary (and the reactions)."""
        details = validate_bool(self.include_details, "include_details")
        group_id = validate_id(self.group_id, "group_id")
        reference_id = validate_id(self.reference_id, "reference_id")
        source = validate_id(self.source_group_id, "source_group_id") if self.source_group_id else None
        counts = self.hook.get_reaction_summary(group_id, reference_id, source_group_id=source)
        result: dict[str, Any] = {
            "referenceId": reference_id,
            "like": int(counts.get("like", 0)),
            "comment": int(counts.get("comment", 0)),
        }
        if details:
            result["reactions"] = list(self.hook.iter_reactions(group_id, reference_id, source_group_id=source))
        self.log.info("%s has %d like(s) and %d comment(s).", reference_id, result["like"], result["comment"])
        return result
