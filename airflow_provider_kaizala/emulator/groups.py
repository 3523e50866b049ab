"""Groups (G1-G3) and sub-groups (SG1-SG4), served by FastAPI.

Annotations are evaluated eagerly: FastAPI reads the dependencies declared inside :func:`router` from them.
"""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BeforeValidator, ConfigDict, Field, StrictStr, WithJsonSchema, model_validator
from starlette.responses import Response

from airflow_provider_kaizala.emulator.access import (
    GroupAccess,
    caller_role,
    check_admin,
    visible_group,
    visible_group_ids,
)
from airflow_provider_kaizala.emulator.models import Answer, Body, LenientBool, NonBlank, Result, any_case
from airflow_provider_kaizala.emulator.services import Caller, Services, answers, resource
from airflow_provider_kaizala.emulator.state import GROUP_TYPES, Connector, Group, State, split_phones
from airflow_provider_kaizala.emulator.wire import bad_request, json_response, not_found

MAX_MEMBERS_AT_CREATION = 100


# -- value types ----------------------------------------------------------------------------------------
def _string_or_nothing(value: Any) -> Any:
    return value if isinstance(value, str) else ""


#: ``groupImageUrl``: a value that is not a string is ignored (no image), as the emulator always did.
ImageUrl = Annotated[str, BeforeValidator(_string_or_nothing), WithJsonSchema({"type": "string"})]


#: A boolean query parameter (``?name=`` and a bare ``?name`` are no value: ``api.py`` drops blank values).
QueryBool = LenientBool | None

GroupType = any_case(*GROUP_TYPES.values())
Phones = Annotated[
    list[StrictStr],
    Field(
        max_length=MAX_MEMBERS_AT_CREATION,
        description="phone numbers; one that is not valid is left out (G1: membersAdded false)",
    ),
]


# -- request bodies -------------------------------------------------------------------------------------
class GroupFields(Body):
    """What G1 and SG2 bodies share: the welcome message (required, may be empty), members, type and image."""

    welcome_message: Annotated[StrictStr, Field(alias="welcomeMessage")]
    members: Phones = []
    group_type: Annotated[GroupType, Field(alias="groupType")] = "Group"  # type: ignore[valid-type]
    group_image_url: Annotated[ImageUrl, Field(alias="groupImageUrl")] = ""


class NewGroup(GroupFields):
    """G1 body: the group's name and the shared fields."""

    name: NonBlank


def _document_name_alias(schema: dict[str, Any]) -> None:
    """SG2's schema: ``name`` is documented, and one of ``groupName`` and ``name`` is required."""
    schema["properties"]["name"] = {
        "type": "string",
        "minLength": 1,
        "pattern": r"\S",
        "description": "alias of groupName",
    }
    schema["required"] = [r for r in schema.get("required", ()) if r != "groupName"]
    schema["anyOf"] = [{"required": ["groupName"]}, {"required": ["name"]}]


class NewSubGroup(GroupFields):
    """SG2 body: ``groupName`` (or its alias ``name``, used when ``groupName`` is absent), the shared fields and
    whether the caller joins it (``addUserToGroup``, default true)."""

    model_config = ConfigDict(json_schema_extra=_document_name_alias)

    group_name: Annotated[NonBlank, Field(alias="groupName")]
    add_user: Annotated[LenientBool, Field(alias="addUserToGroup", description="default true")] = True

    @model_validator(mode="before")
    @classmethod
    def _name_is_group_name(cls, data: Any) -> Any:
        """``name`` stands for ``groupName`` when that is absent (any key case; ``null`` is absent)."""
        if not isinstance(data, dict):
            return data
        present = {str(k).lower(): k for k, v in data.items() if v is not None}
        if "groupname" not in present and "name" in present:
            return {**data, "groupName": data[present["name"]]}
        return data


class SubGroupIds(Body):
    """SG3 body: the existing groups to attach below the path group."""

    sub_groups: Annotated[list[StrictStr], Field(alias="subGroups", min_length=1)]


# -- answers --------------------------------------------------------------------------------------------
Count = Annotated[int, Field(ge=0)]
GroupTypeName = Literal["Group", "ConnectGroup"]


class CreatedGroup(Answer):
    """G1 answer."""

    groupName: str
    groupId: str
    membersAdded: Annotated[bool, Field(description="true only if every number was added")]


class _GroupIdentity(Answer):
    """The fields every group entry carries (G2, G3, SG1)."""

    groupId: str
    groupName: str
    groupImageUrl: str
    groupType: GroupTypeName
    hasSubGroups: bool
    hasParentGroups: bool
    isMappedToTenant: bool


class _GroupFields(_GroupIdentity):
    """The fields every group listing carries (G2, G3)."""

    userCount: Count
    currentLevelUserCount: Count


class GroupSummary(_GroupFields):
    """A G2 group: the summary fields, and the detail fields with ``showDetail=true``."""

    callerRole: Literal["Admin", "Member", ""] | None = None
    currentLevelSubGroupCount: Count | None = None
    currentLevelParentGroupCount: Count | None = None
    uniqueUserCount: Count | None = None
    currentLevelUnProvisionedUserCount: Count | None = None
    unProvisionedUserCount: Count | None = None
    isDuplicate: bool | None = None
    isEditable: bool | None = None
    isDetailsReadable: bool | None = None
    welcomeMessage: str | None = None


class GroupDetail(_GroupFields):
    """A group with its detail fields (G3, and G2 with ``showDetail=true``)."""

    callerRole: Literal["Admin", "Member", ""]
    currentLevelSubGroupCount: Count
    currentLevelParentGroupCount: Count
    uniqueUserCount: Count
    currentLevelUnProvisionedUserCount: Count
    unProvisionedUserCount: Count
    isDuplicate: bool
    isEditable: bool
    isDetailsReadable: bool
    welcomeMessage: str


class GroupList(Answer):
    """G2 answer."""

    groups: list[GroupSummary]


class OneGroup(Answer):
    """G3 answer: the group in a one-element ``groups`` array."""

    groups: Annotated[list[GroupDetail], Field(min_length=1, max_length=1)]


class SubGroup(_GroupIdentity):
    """A group of an SG1 answer with its direct sub-groups (nested at every level with ``fetchAllGroups``)."""

    isDuplicate: bool
    welcomeMessage: str
    subGroups: Annotated[
        list["SubGroup"] | None, Field(description="direct children (below the top only with fetchAllGroups)")
    ] = None


class SubGroupTree(Answer):
    """SG1 answer: the path group, with its sub-groups, in a one-element ``groups`` array."""

    groups: Annotated[list[SubGroup], Field(min_length=1, max_length=1)]


class CreatedSubGroup(Answer):
    """SG2 answer."""

    groupId: str
    groupName: str


# -- what the answers are made of ------------------------------------------------------------------------
def group_identity(group: Group) -> dict[str, Any]:
    """The fields every group entry carries."""
    return {
        "groupId": group.group_id,
        "groupName": group.name,
        "groupImageUrl": group.image_url,
        "groupType": group.group_type,
        "hasSubGroups": bool(group.children),
        "hasParentGroups": bool(group.parents),
        "isMappedToTenant": bool(group.tenant_id),
    }


def group_summary(state: State, group: Group) -> dict[str, Any]:
    """The fields every group listing carries."""
    return {
        **group_identity(group),
        "userCount": len(state.hierarchy_users(group.group_id)),
        "currentLevelUserCount": len(group.members),
    }


def group_detail(state: State, conn: Connector, group: Group) -> dict[str, Any]:
    """Summary plus the detail-only fields (``showDetail=true`` and ``GET /groups/{id}``)."""
    out = group_summary(state, group)
    users = state.hierarchy_users(group.group_id)
    role = caller_role(state, conn, group.group_id)
    out.update(
        {
            "callerRole": role,
            "currentLevelSubGroupCount": len(group.children),
            "currentLevelParentGroupCount": len(group.parents),
            "uniqueUserCount": len(users),
            "currentLevelUnProvisionedUserCount": sum(1 for p in group.members if not state.is_provisioned(p)),
            "unProvisionedUserCount": sum(1 for p in users if not state.is_provisioned(p)),
            "isDuplicate": False,
            "isEditable": role == "Admin",
            "isDetailsReadable": True,
            "welcomeMessage": group.welcome_message,
        }
    )
    return out


def subgroup_item(state: State, group: Group, recurse: bool) -> dict[str, Any]:
    """A sub-group entry with the [S] fields; nested ``subGroups`` when ``recurse``."""
    item: dict[str, Any] = {
        **group_identity(group),
        "isDuplicate": False,
        "welcomeMessage": group.welcome_message,
    }
    if recurse:
        item["subGroups"] = [subgroup_item(state, state.groups[c], True) for c in group.children]
    return item


def new_group(
    state: State, conn: Connector, body: GroupFields, name: str, parent: Group | None, add_caller: bool = True
) -> tuple[Group, bool]:
    """The new group and whether every number of ``members`` was added (invalid numbers are left out)."""
    members, invalid = split_phones(body.members)
    group = state.create_group(
        name=name,
        group_type=body.group_type,
        welcome_message=body.welcome_message,
        members=members,
        admins=[conn.phone] if add_caller else [],
        parent_id=parent.group_id if parent else None,
        tenant_id=conn.tenant_id,
        image_url=body.group_image_url,
    )
    return group, not invalid


SubGroupId = Annotated[str, Path(description="Sub-group id")]


def router(services: Services) -> APIRouter:
    """G1-G3 and SG1-SG4 bound to ``services``."""
    api = APIRouter()
    state = services.state

    access = GroupAccess(state)

    # -- G1-G3 --------------------------------------------------------------------------------------------
    @api.post(
        "/v1/groups",
        openapi_extra=resource("groupinfo.write"),
        response_model=CreatedGroup,
        responses=answers(400),
        description="With a group token the new group is created below the token's group.",
    )
    async def create_group(conn: Caller, body: NewGroup) -> Response:
        parent = visible_group(state, conn, conn.group_id) if conn.group_id else None
        group, all_added = new_group(state, conn, body, body.name, parent)
        return json_response({"groupName": group.name, "groupId": group.group_id, "membersAdded": all_added})

    @api.get("/v1/groups", openapi_extra=resource("groupinfo.read"), response_model=GroupList, responses=answers(400))
    async def list_groups(
        conn: Caller,
        show_detail: Annotated[QueryBool, Query(alias="showDetail", description="add the detail fields")] = None,
        show_details: Annotated[QueryBool, Query(alias="showDetails", description="alias of showDetail")] = None,
        fetch_all: Annotated[
            QueryBool, Query(alias="fetchAllGroups", description="every visible group, not only the top ones")
        ] = None,
    ) -> Response:
        show = show_detail if show_detail is not None else bool(show_details)
        ids = visible_group_ids(state, conn)
        if not fetch_all:
            visible_ids = set(ids)
            ids = [gid for gid in ids if not any(p in visible_ids for p in state.groups[gid].parents)]
        if show:
            groups = [group_detail(state, conn, state.groups[gid]) for gid in ids]
        else:
            groups = [group_summary(state, state.groups[gid]) for gid in ids]
        return json_response({"groups": groups})

    @api.get(
        "/v1/groups/{groupId}",
        openapi_extra=resource("groupinfo.read"),
        response_model=OneGroup,
        responses=answers(403, 404),
    )
    async def get_group(group: Annotated[Group, Depends(access.visible)], conn: Caller) -> Response:
        return json_response({"groups": [group_detail(state, conn, group)]})

    # -- SG1-SG4 ------------------------------------------------------------------------------------------
    @api.get(
        "/v1/groups/{groupId}/subGroups",
        openapi_extra=resource("groupinfo.read"),
        response_model=SubGroupTree,
        responses=answers(400, 403, 404),
    )
    async def list_subgroups(
        group: Annotated[Group, Depends(access.visible)],
        fetch_all: Annotated[QueryBool, Query(alias="fetchAllGroups", description="nest every level")] = None,
    ) -> Response:
        top = subgroup_item(state, group, False)
        top["subGroups"] = [subgroup_item(state, state.groups[c], bool(fetch_all)) for c in group.children]
        return json_response({"groups": [top]})

    @api.post(
        "/v1/groups/{groupId}/subGroups",
        openapi_extra=resource("groupinfo.write"),
        response_model=CreatedSubGroup,
        responses=answers(400, 403, 404),
    )
    async def create_subgroup(
        parent: Annotated[Group, Depends(access.administered)], conn: Caller, body: NewSubGroup
    ) -> Response:
        group, _ = new_group(state, conn, body, body.group_name, parent, body.add_user)  # SG2: no per-number outcome
        return json_response({"groupId": group.group_id, "groupName": group.name})

    @api.put(
        "/v1/groups/{groupId}/subGroups",
        openapi_extra=resource("groupinfo.write"),
        response_model=Result,
        responses=answers(400, 403, 404),
    )
    async def attach_subgroups(
        parent: Annotated[Group, Depends(access.administered)], conn: Caller, body: SubGroupIds
    ) -> Response:
        above = state.ancestors(parent.group_id) | {parent.group_id}
        for gid in body.sub_groups:
            child = visible_group(state, conn, gid)
            if gid in above:
                raise bad_request(
                    f"Parameter subGroups: group {gid} cannot be a sub-group of {parent.group_id} (cycle)"
                )
            check_admin(state, conn, child)
        for gid in body.sub_groups:
            state.attach(parent.group_id, gid)
        return json_response({"result": True})

    @api.delete(
        "/v1/groups/{groupId}/subGroups/{subGroupId}",
        openapi_extra=resource("groupinfo.remove"),
        response_model=Result,
        responses=answers(403, 404),
    )
    async def detach_subgroup(
        parent: Annotated[Group, Depends(access.administered)], subGroupId: SubGroupId
    ) -> Response:
        if subGroupId not in parent.children:
            raise not_found(f"Group {subGroupId} is not a sub-group of {parent.group_id}")
        state.detach(parent.group_id, subGroupId)
        return json_response({"result": True})

    return api
