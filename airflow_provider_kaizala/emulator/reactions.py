"""Reactions (R1-R4), served by FastAPI: likes and comments on messages and actions, summaries, paged details.

Cursors are .NET ticks (100 ns since 0001-01-01). Every reaction change gets a distinct, increasing tick value,
so "everything strictly after the cursor" never skips or repeats an item. A page is ``REACTION_PAGE`` items; the
end of the data is an empty list with the cursor unchanged.

Annotations are evaluated eagerly: FastAPI reads the dependencies declared inside :func:`router` from them.
"""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import (
    BeforeValidator,
    Field,
    StrictStr,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from starlette.responses import Response

from airflow_provider_kaizala.emulator.access import GroupAccess, check_member, visible_group
from airflow_provider_kaizala.emulator.models import Answer, Body, any_case, lenient_int
from airflow_provider_kaizala.emulator.services import Caller, Services, answers, resource
from airflow_provider_kaizala.emulator.state import TICKS_AT_EPOCH, Connector, Group, Reaction, State, user_id
from airflow_provider_kaizala.emulator.wire import bad_request, json_response, not_found

REACTION_TYPES = {"like": "Like", "comment": "Comment"}
REACTION_PAGE = 20
MAX_COMMENT = 4000


def _ticks(value: Any) -> Any:
    """A cursor: .NET ticks as an integer or a string of up to 18 digits; blank means 0 (from the start)."""
    if isinstance(value, str) and not value.strip():
        return 0
    try:
        ticks = lenient_int(value)
    except ValueError:
        ticks = -1
    if ticks < 0:
        raise ValueError("must be a non-negative .NET ticks value")
    return ticks


#: A reaction cursor: .NET ticks >= 0, as sent back by the previous page (blank or absent: from the start).
Ticks = Annotated[
    int,
    BeforeValidator(_ticks),
    WithJsonSchema({"type": "integer", "format": "int64", "minimum": 0, "description": ".NET ticks (default 0)"}),
]
ReactionType = any_case(*REACTION_TYPES.values())


#: The R4 ``reactionType`` filter (``?reactionType=`` is no value: ``api.py`` drops blank values).
ReactionFilter = ReactionType | None


#: A .NET ticks cursor in an answer.
Int64 = Annotated[int, Field(description=".NET ticks", json_schema_extra={"format": "int64"})]


class ReactionBody(Body):
    """R1 body: the message or action to react to, Like or Comment (in any case), and the comment's text."""

    reference_id: Annotated[StrictStr, Field(alias="referenceId", min_length=1)]
    reaction_type: Annotated[ReactionType, Field(alias="reactionType")]  # type: ignore[valid-type]
    source_group_id: Annotated[
        StrictStr, Field(alias="sourceGroupId", description="the path group or a group below it (default)")
    ] = ""
    comment: Annotated[
        StrictStr | None,
        Field(
            validate_default=True,
            min_length=1,
            max_length=MAX_COMMENT,
            description=f"required for a Comment, 1 to {MAX_COMMENT} characters; ignored on a Like",
        ),
    ] = None

    @field_validator("comment", mode="before")
    @classmethod
    def _ignored_on_a_like(cls, value: Any, info: ValidationInfo) -> Any:
        """A Like carries no comment: whatever came with it is ignored."""
        return None if info.data.get("reaction_type") == "Like" else value

    @field_validator("comment")
    @classmethod
    def _required_on_a_comment(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("reaction_type") == "Comment":
            raise ValueError("is required for a Comment")
        return value


class ReactionCreated(Answer):
    """R1 answer (liking again gives the user's existing like)."""

    reactionId: str


class ReactionsCountMap(Answer):
    """How many likes and comments a message or action has."""

    like: Annotated[int, Field(ge=0)]
    comment: Annotated[int, Field(ge=0)]


class ReactionCounts(Answer):
    """A message or action of a summary and its counts."""

    referenceId: str
    reactionsCountMap: ReactionsCountMap


class ReferenceSummary(Answer):
    """R2 answer: the counts of one reference."""

    summary: Annotated[list[ReactionCounts], Field(min_length=1, max_length=1)]


class GroupReactionSummary(Answer):
    """R3 answer: the references whose reactions changed after the cursor (oldest change first) and the next
    cursor (unchanged at the end)."""

    cursor: Int64
    summary: Annotated[list[ReactionCounts], Field(max_length=REACTION_PAGE)]


class ReactionDetail(Answer):
    """One reaction of R4 (``reactionType`` and ``comment`` are extensions, shown only when they are on)."""

    reactionId: str
    userId: str
    lastModifiedTime: Annotated[int, Field(description="epoch ms", json_schema_extra={"format": "int64"})]
    reactionType: Annotated[Literal["Like", "Comment"] | None, Field(description="extension")] = None
    comment: Annotated[str | None, Field(description="extension")] = None


class ReactionDetails(Answer):
    """R4 answer: the reactions after the cursor (oldest first) and the next cursor (unchanged at the end)."""

    cursor: Int64
    reactionDetails: Annotated[list[ReactionDetail], Field(max_length=REACTION_PAGE)]


def ticks_to_ms(ticks: int) -> int:
    return (ticks - TICKS_AT_EPOCH) // 10_000


def source_group(state: State, conn: Connector, group: Group, source_id: str) -> Group:
    """``sourceGroupId`` (blank: the path group); it must be the path group or a group below it."""
    if not source_id:
        return group
    source = visible_group(state, conn, source_id)
    if source.group_id != group.group_id and group.group_id not in state.ancestors(source.group_id):
        raise bad_request(f"Group {source_id} is not {group.group_id} or one of its sub-groups")
    return source


def check_reference(state: State, source: Group, reference_id: str) -> str:
    """The ``referenceId`` of a message or action (or action id) posted in ``source`` (404 otherwise)."""
    found = state.find_reference(reference_id)
    if found is None or found[0] != source.group_id:
        raise not_found(f"Reference {reference_id} not found in group {source.group_id}")
    return found[1].reference_id


def _counts(reactions: list[Reaction]) -> dict[str, int]:
    return {
        "like": sum(1 for r in reactions if r.reaction_type == "Like"),
        "comment": sum(1 for r in reactions if r.reaction_type == "Comment"),
    }


ReferenceId = Annotated[str, Path(description="a message/action referenceId (or an actionId)")]
SourceGroupId = Annotated[str, Query(description="the path group or a group below it (default: the path group)")]
Cursor = Annotated[Ticks, Query()]


def router(services: Services) -> APIRouter:
    """R1-R4 bound to ``services``."""
    api = APIRouter()
    state = services.state

    access = GroupAccess(state)

    async def queried_source(
        group: Annotated[Group, Depends(access.visible)], conn: Caller, sourceGroupId: SourceGroupId = ""
    ) -> Group:
        return source_group(state, conn, group, sourceGroupId)

    @api.post(
        "/v1/groups/{groupId}/reaction",
        openapi_extra=resource("action.write"),
        response_model=ReactionCreated,
        responses=answers(400, 403, 404),
    )
    async def react(group: Annotated[Group, Depends(access.visible)], conn: Caller, body: ReactionBody) -> Response:
        source = source_group(state, conn, group, body.source_group_id)
        check_member(state, conn, source)
        reference = check_reference(state, source, body.reference_id)
        kind = body.reaction_type
        if kind == "Like":  # one like per user and reference: liking again only refreshes it
            for r in state.reactions:
                if r.reference_id == reference and r.reaction_type == "Like" and r.user == conn.phone:
                    r.ticks = state.next_ticks()
                    return json_response({"reactionId": r.reaction_id})
        reaction = Reaction(
            reaction_id=state.new_guid(),
            group_id=group.group_id,
            source_group_id=source.group_id,
            reference_id=reference,
            reaction_type=kind,
            user=conn.phone,
            comment=body.comment,
            ticks=state.next_ticks(),
        )
        state.reactions.append(reaction)
        return json_response({"reactionId": reaction.reaction_id})

    # Declared before R4: ``summary`` is a literal segment there, not a referenceId.
    @api.get(
        "/v1/groups/{groupId}/reaction/summary",
        openapi_extra=resource("action.read"),
        response_model=GroupReactionSummary,
        responses=answers(400, 403, 404),
    )
    async def group_summary(source: Annotated[Group, Depends(queried_source)], cursor: Cursor = 0) -> Response:
        """References of the source group with a reaction change after ``cursor``, oldest change first."""
        by_ref: dict[str, list[Reaction]] = {}
        for r in state.reactions:
            if r.source_group_id == source.group_id:
                by_ref.setdefault(r.reference_id, []).append(r)
        latest = sorted((max(r.ticks for r in rs), ref) for ref, rs in by_ref.items())
        page = [(t, ref) for t, ref in latest if t > cursor][:REACTION_PAGE]
        return json_response(
            {
                "cursor": page[-1][0] if page else cursor,
                "summary": [{"referenceId": ref, "reactionsCountMap": _counts(by_ref[ref])} for _, ref in page],
            }
        )

    @api.get(
        "/v1/groups/{groupId}/reaction/{referenceId}/summary",
        openapi_extra=resource("action.read"),
        response_model=ReferenceSummary,
        responses=answers(400, 403, 404),
    )
    async def reference_summary(
        source: Annotated[Group, Depends(queried_source)], referenceId: ReferenceId
    ) -> Response:
        reference = check_reference(state, source, referenceId)
        mine = [r for r in state.reactions if r.reference_id == reference]
        return json_response({"summary": [{"referenceId": reference, "reactionsCountMap": _counts(mine)}]})

    @api.get(
        "/v1/groups/{groupId}/reaction/{referenceId}",
        openapi_extra=resource("action.read"),
        response_model=ReactionDetails,
        responses=answers(400, 403, 404),
    )
    async def details(
        source: Annotated[Group, Depends(queried_source)],
        referenceId: ReferenceId,
        reactionType: Annotated[ReactionFilter, Query(description="Like or Comment, in any case")] = None,  # type: ignore[valid-type]
        cursor: Cursor = 0,
    ) -> Response:
        reference = check_reference(state, source, referenceId)
        items = sorted(
            (
                r
                for r in state.reactions
                if r.reference_id == reference
                and (reactionType is None or r.reaction_type == reactionType)
                and r.ticks > cursor
            ),
            key=lambda r: r.ticks,
        )[:REACTION_PAGE]
        extensions = services.faults.config.extensions
        out = []
        for r in items:
            item: dict[str, Any] = {
                "reactionId": r.reaction_id,
                "userId": user_id(r.user),
                "lastModifiedTime": ticks_to_ms(r.ticks),
            }
            if extensions:  # not in the documented item ("the comment text is not in the documented item")
                item["reactionType"] = r.reaction_type
                if r.comment is not None:
                    item["comment"] = r.comment
            out.append(item)
        return json_response({"cursor": items[-1].ticks if items else cursor, "reactionDetails": out})

    return api
