"""Operators for reactions (likes and comments) on messages and actions."""

from __future__ import annotations

from typing import Any

from airflow_provider_kaizala.operators.base import KaizalaBaseOperator


class KaizalaReactionOperator(KaizalaBaseOperator):
    """Base of the reaction operators: a message or action (its ``referenceId``) in a group.

    :param group_id: the group (templated).
    :param reference_id: the message's or action's ``referenceId`` (templated).
    :param source_group_id: the group the reference was posted in when it is a sub-group of ``group_id``
        (templated).
    """

    group_id: str
    reference_id: str
    source_group_id: str | None = None


class KaizalaAddReactionOperator(KaizalaReactionOperator):
    """Like or comment on a message or action (by its ``referenceId``), as the connector's user.

    Liking again is harmless (one like per person: Kaizala returns the same reaction). A comment is not
    repeated when its outcome is unknown (``KaizalaOutcomeUnknownError``) rather than risk commenting twice.

    :param reaction_type: ``Like`` or ``Comment`` (templated).
    :param comment: the comment, 1 to 4000 characters; only with ``Comment`` (templated).
    :return: ``{"reactionId", "referenceId", "reactionType"}``.
    """

    reaction_type: str = "Like"
    comment: str | None = None

    def call(self, context: Any) -> dict[str, Any]:
        """Add the reaction."""
        from airflow_provider_kaizala.hooks.actions import REACTION_TYPES
        from airflow_provider_kaizala.hooks.validation import validate_choice

        kind = validate_choice(self.reaction_type, "reaction_type", REACTION_TYPES)
        result = self.hook.add_reaction(
            self.group_id,
            self.reference_id,
            reaction_type=kind,
            comment=self.comment,
            source_group_id=self.source_group_id,
        )
        self.log.info("Added a %s (%s) to %s.", kind, result.get("reactionId"), self.reference_id)
        return {"reactionId": result.get("reactionId"), "referenceId": self.reference_id, "reactionType": kind}


class KaizalaGetReactionSummaryOperator(KaizalaReactionOperator):
    """Count the likes and comments on a message or action; optionally list every reaction.

    :param include_details: also return every reaction (``reactionId``, ``userId``, ``reactionType``,
        ``lastModifiedTime``, ``comment``), walking all pages (templated).
    :return: ``{"referenceId", "like", "comment"}``, plus ``reactions`` with ``include_details``.
    """

    include_details: bool = False

    def call(self, context: Any) -> dict[str, Any]:
        """Read the summary (and the reactions)."""
        ids = (self.group_id, self.reference_id)
        counts = self.hook.get_reaction_summary(*ids, source_group_id=self.source_group_id)
        result: dict[str, Any] = {
            "referenceId": self.reference_id,
            "like": int(counts.get("like", 0)),
            "comment": int(counts.get("comment", 0)),
        }
        if self.include_details:
            result["reactions"] = list(self.hook.iter_reactions(*ids, source_group_id=self.source_group_id))
        self.log.info("%s has %d like(s) and %d comment(s).", self.reference_id, result["like"], result["comment"])
        return result
