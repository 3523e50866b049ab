"""Reactions (R1-R4): likes and comments on messages and actions, summaries, paged details.

Cursors are .NET ticks (100 ns since 0001-01-01). Every reaction change gets a distinct, increasing tick value,
so "everything strictly after the cursor" never skips or repeats an item. A page is ``REACTION_PAGE`` items; the
end of the data is an empty list with the cursor unchanged.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_kaizala.emulator.access import get_group, require_member
from airflow_provider_kaizala.emulator.routing import Router
from airflow_provider_kaizala.emulator.state import TICKS_AT_EPOCH, Group, Reaction, user_id
from airflow_provider_kaizala.emulator.wire import Reply, Request, bad_request, not_found, parse_int

REACTION_TYPES = {"like": "Like", "comment": "Comment"}
REACTION_PAGE = 20
MAX_COMMENT = 4000


def ticks_to_ms(ticks: int) -> int:
    return (ticks - TICKS_AT_EPOCH) // 10_000


def _source_group(req: Request, group: Group, raw: Any) -> Group:
    """``sourceGroupId`` (default: the path group); it must be the path group or a group below it."""
    if raw is None or raw == "":
        return group
    if not isinstance(raw, str):
        raise bad_request("Parameter sourceGroupId must be a group id")
    source = get_group(req, raw)
    if source.group_id != group.group_id and group.group_id not in req.app.state.ancestors(source.group_id):
        raise bad_request(f"Group {raw} is not {group.group_id} or one of its sub-groups")
    return source


def _check_reference(req: Request, source: Group, reference_id: Any) -> str:
    if not isinstance(reference_id, str) or not reference_id:
        raise bad_request("Parameter referenceId is required and must be a string")
    found = req.app.state.find_reference(reference_id)
    if found is None or found[0] != source.group_id:
        raise not_found(f"Reference {reference_id} not found in group {source.group_id}")
    return found[1].reference_id


def _cursor(raw: str | None) -> int:
    cursor = parse_int(raw if raw not in (None, "") else "0", "cursor")
    if cursor < 0:
        raise bad_request("Parameter cursor must be a non-negative .NET ticks value")
    return cursor


def react(req: Request) -> Reply:
    group = get_group(req, req.params["groupId"])
    body = req.json()
    source = _source_group(req, group, body.get("sourcegroupid"))
    require_member(req, source)
    reference = _check_reference(req, source, body.get("referenceid"))
    raw_type = body.get("reactiontype")
    if not isinstance(raw_type, str) or raw_type.lower() not in REACTION_TYPES:
        raise bad_request("Parameter reactionType must be Like or Comment")
    kind = REACTION_TYPES[raw_type.lower()]
    comment = body.get("comment")
    if kind == "Comment" and (not isinstance(comment, str) or not 1 <= len(comment) <= MAX_COMMENT):
        raise bad_request(f"Parameter comment is required for a Comment and must be 1 to {MAX_COMMENT} characters")
    state = req.app.state
    conn = req.connector
    assert conn is not None
    if kind == "Like":  # one like per user and reference: liking again only refreshes it
        for r in state.reactions:
            if r.reference_id == reference and r.reaction_type == "Like" and r.user == conn.phone:
                r.ticks = state.next_ticks()
                return Reply({"reactionId": r.reaction_id})
    reaction = Reaction(
        reaction_id=state.new_guid(),
        group_id=group.group_id,
        source_group_id=source.group_id,
        reference_id=reference,
        reaction_type=kind,
        user=conn.phone,
        comment=comment if kind == "Comment" else None,
        ticks=state.next_ticks(),
    )
    state.reactions.append(reaction)
    return Reply({"reactionId": reaction.reaction_id})


def _counts(reactions: list[Reaction]) -> dict[str, int]:
    return {
        "like": sum(1 for r in reactions if r.reaction_type == "Like"),
        "comment": sum(1 for r in reactions if r.reaction_type == "Comment"),
    }


def reference_summary(req: Request) -> Reply:
    group = get_group(req, req.params["groupId"])
    source = _source_group(req, group, req.query.get("sourcegroupid"))
    reference = _check_reference(req, source, req.params["referenceId"])
    mine = [r for r in req.app.state.reactions if r.reference_id == reference]
    return Reply({"summary": [{"referenceId": reference, "reactionsCountMap": _counts(mine)}]})


def group_summary(req: Request) -> Reply:
    """References of the source group with a reaction change after ``cursor``, oldest change first."""
    group = get_group(req, req.params["groupId"])
    source = _source_group(req, group, req.query.get("sourcegroupid"))
    cursor = _cursor(req.query.get("cursor"))
    by_ref: dict[str, list[Reaction]] = {}
    for r in req.app.state.reactions:
        if r.source_group_id == source.group_id:
            by_ref.setdefault(r.reference_id, []).append(r)
    latest = sorted((max(r.ticks for r in rs), ref) for ref, rs in by_ref.items())
    page = [(t, ref) for t, ref in latest if t > cursor][:REACTION_PAGE]
    return Reply(
        {
            "cursor": page[-1][0] if page else cursor,
            "summary": [{"referenceId": ref, "reactionsCountMap": _counts(by_ref[ref])} for _, ref in page],
        }
    )


def details(req: Request) -> Reply:
    group = get_group(req, req.params["groupId"])
    q = req.query
    source = _source_group(req, group, q.get("sourcegroupid"))
    reference = _check_reference(req, source, req.params["referenceId"])
    raw_type = q.get("reactiontype")
    if raw_type is not None and raw_type.lower() not in REACTION_TYPES:
        raise bad_request("Query parameter reactionType must be Like or Comment")
    kind = REACTION_TYPES[raw_type.lower()] if raw_type is not None else None
    cursor = _cursor(q.get("cursor"))
    items = sorted(
        (
            r
            for r in req.app.state.reactions
            if r.reference_id == reference and (kind is None or r.reaction_type == kind) and r.ticks > cursor
        ),
        key=lambda r: r.ticks,
    )[:REACTION_PAGE]
    extensions = req.app.faults.config.extensions
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
    return Reply({"cursor": items[-1].ticks if items else cursor, "reactionDetails": out})


def register(router: Router) -> None:
    router.add("POST", "/v1/groups/{groupId}/reaction", react, permission="action.write")
    router.add("GET", "/v1/groups/{groupId}/reaction/summary", group_summary, permission="action.read")
    router.add(
        "GET", "/v1/groups/{groupId}/reaction/{referenceId}/summary", reference_summary, permission="action.read"
    )
    router.add("GET", "/v1/groups/{groupId}/reaction/{referenceId}", details, permission="action.read")
