"""In-memory state of the Kaizala emulator: connectors, tokens, users, groups, subscribers, messages.

Everything here is plain Python with no I/O; the ASGI layer (``app.py``) serialises access by running
on one event loop. Subscribers are stored compactly as sorted ``array('q')`` of the phone number's digits
(``+919812345678`` -> ``919812345678``); their ids and names are derived deterministically from the number,
so a 1,000,000-subscriber group costs about 8 MB.
"""

from __future__ import annotations

import base64
import hashlib
import random
import secrets
import time
import uuid
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

#: Namespace for deterministic user ids (``uuid5(USER_NS, "+91...")``).
USER_NS = uuid.UUID("6f1c2d9e-3b7a-5c4d-8e2f-1a0b9c8d7e6f")

#: Every permission (scope) the emulator knows, in the order of the Swagger's ``grantedScope`` example (the
#: documented grant); a connector gets all of them unless told otherwise.
ALL_PERMISSIONS: tuple[str, ...] = (
    "groupinfo.read",
    "groupinfo.write",
    "groupinfo.remove",
    "groupinfo.update",
    "groupmember.read",
    "groupmember.write",
    "groupmember.remove",
    "textmessage.read",
    "action.read",
    "action.write",
    "action.update",
    "profile.write",
    "media.read",
    "webhook.read",
    "webhook.write",
    "webhook.remove",
    "webhook.update",
)

REFRESH_TOKEN_LIFETIME = 365 * 86400.0
#: Seconds a PIN sent by ``generatePin`` stays usable, and wrong PINs that void it.
PIN_LIFETIME = 600.0
PIN_ATTEMPTS = 5
ROTATION_FRACTION = 0.9
GROUP_TYPES = {"group": "Group", "connectgroup": "ConnectGroup"}

#: Synthetic phone numbers are drawn from +9196xxxxxxxx .. +9199xxxxxxxx (all valid Indian mobiles).
SYNTH_LOW = 919600000000
SYNTH_HIGH = 919999999999

_FIRST = ("Aarav", "Priya", "Rohan", "Ananya", "Vikram", "Sneha", "Arjun", "Kavya", "Rahul", "Meera", "Ishaan", "Diya")
_LAST = ("Sharma", "Patel", "Reddy", "Iyer", "Singh", "Gupta", "Nair", "Khan", "Das", "Joshi", "Menon", "Rao")


#: Set KAIZALA_EMULATOR_SECRET_MARKER to embed a recognisable marker in every secret the emulator issues
#: (application secrets, refresh tokens, access tokens), so a test run can prove none of them leaked.
SECRET_MARKER_ENV = "KAIZALA_EMULATOR_SECRET_MARKER"


def new_secret(prefix: str, nbytes: int) -> str:
    """A random secret, carrying the secret marker when one is set."""
    import os

    marker = os.environ.get(SECRET_MARKER_ENV, "")
    return f"{prefix}{marker}{secrets.token_urlsafe(nbytes)}"


#: Phone number of the connector whose API call is being handled (the ``fromUser`` of events it causes).
CURRENT_ACTOR: ContextVar[str | None] = ContextVar("kaizala_emulator_actor", default=None)

#: ``(event_type, group_id, data, actor_phone)`` -> None; set by the app to feed the webhook deliverer.
EventSink = Callable[[str, str, dict[str, Any], "str | None"], None]

#: Offset of the Unix epoch in .NET ticks (100 ns units since 0001-01-01).
TICKS_AT_EPOCH = 621_355_968_000_000_000


class InvalidPhone(ValueError):
    """Raised when a phone number is not a valid E.164 number."""


def normalise_phone(value: Any) -> str:
    """Return the E.164 form of ``value`` or raise :class:`InvalidPhone`."""
    if not isinstance(value, str) or not value.startswith("+"):
        raise InvalidPhone(str(value))
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(value) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone(value)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def split_phones(values: Iterable[str]) -> tuple[list[str], list[str]]:
    """``(valid E.164 numbers, the other strings)``, each de-duplicated in order: the per-number outcome of a batch."""
    valid: dict[str, None] = {}
    invalid: dict[str, None] = {}
    for value in values:
        try:
            valid[normalise_phone(value)] = None
        except InvalidPhone:
            invalid[value] = None
    return list(valid), list(invalid)


def phone_int(e164: str) -> int:
    """Digits of an E.164 number as an int."""
    return int(e164[1:])


_NS_SHA1 = hashlib.sha1(USER_NS.bytes)


def _digest(e164: str) -> bytes:
    h = _NS_SHA1.copy()
    h.update(e164.encode())
    return h.digest()


def _uuid5_str(digest: bytes) -> str:
    """``str(uuid.uuid5(USER_NS, name))`` from the SHA-1 digest of (namespace + name), without the UUID object."""
    h = digest[:16].hex()
    variant = "89ab"[int(h[16], 16) & 0x3]
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{variant}{h[17:20]}-{h[20:32]}"


def user_id(e164: str) -> str:
    """Deterministic user GUID of a phone number (``uuid5(USER_NS, e164)``)."""
    return _uuid5_str(_digest(e164))


def default_provisioned(e164: str) -> bool:
    """Deterministic 'has registered with Kaizala' flag (about 3 out of 4 numbers)."""
    return _digest(e164)[19] % 4 != 0


def user_id_and_provisioned(e164: str) -> tuple[str, bool]:
    """Both derived values with one hash (hot path of subscriber pages)."""
    digest = _digest(e164)
    return _uuid5_str(digest), digest[19] % 4 != 0


def display_name(e164: str) -> str:
    """Deterministic display name of a phone number."""
    h = int(e164[-6:])
    return f"{_FIRST[h % len(_FIRST)]} {_LAST[(h // 12) % len(_LAST)]}"


class Clock:
    """Wall clock plus an adjustable offset (``POST /_emulator/clock``) used for every expiry decision."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset


@dataclass
class Member:
    """A direct member of a group."""

    phone: str
    role: str = "Member"


def member_event_data(member: Member) -> dict[str, Any]:
    """``data`` of a MemberAdded/MemberRemoved event (documented fields plus the observed ``memberId``)."""
    return {
        "member": member.phone,
        "memberId": user_id(member.phone),
        "memberName": display_name(member.phone),
        "memberProfilePic": "",
        "type": member.role,
    }


class MemberMap(dict[str, Member]):
    """A group's members (phone -> Member) that reports additions and removals as MemberAdded/MemberRemoved.

    Every way members change (M2/M3 calls, admin churn, ...) goes through ``__setitem__``/``setdefault``/
    ``__delitem__``/``pop``, so events are emitted whoever changes the map.
    """

    def __init__(self, group_id: str, state: State, initial: dict[str, Member] | None = None) -> None:
        super().__init__(initial or {})
        self.group_id = group_id
        self.state = state

    def __setitem__(self, key: str, value: Member) -> None:
        new = key not in self
        super().__setitem__(key, value)
        if new:
            self.state.emit("MemberAdded", self.group_id, member_event_data(value))

    def setdefault(self, key: str, default: Member) -> Member:
        if key in self:
            return self[key]
        self[key] = default
        return default

    def __delitem__(self, key: str) -> None:
        member = self[key]
        super().__delitem__(key)
        self.state.emit("MemberRemoved", self.group_id, member_event_data(member))

    def pop(self, key: str, *default: Any) -> Any:
        if key not in self:
            if default:
                return default[0]
            raise KeyError(key)
        member = self[key]
        del self[key]
        return member


class MessageLog(list["Message"]):
    """The list of sent text messages; ``append`` reports TextMessageCreated."""

    def __init__(self, state: State) -> None:
        super().__init__()
        self.state = state

    def append(self, msg: Message) -> None:
        super().append(msg)
        self.state.emit("TextMessageCreated", msg.group_id, {"text": msg.message}, msg.sender)


@dataclass
class Group:
    """A group (``Group``) or managed public group (``ConnectGroup``)."""

    group_id: str
    name: str
    group_type: str = "Group"
    welcome_message: str = ""
    image_url: str = ""
    tenant_id: str = ""
    members: dict[str, Member] = field(default_factory=dict)  # phone -> Member, insertion ordered
    subscribers: array = field(default_factory=lambda: array("q"))  # sorted phone ints
    parents: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    created: float = 0.0

    @property
    def is_public(self) -> bool:
        return self.group_type == "ConnectGroup"

    # -- subscribers -------------------------------------------------------------------------
    def has_subscriber(self, n: int) -> bool:
        subs = self.subscribers
        i = bisect_left(subs, n)
        return i < len(subs) and subs[i] == n

    def add_subscriber(self, n: int) -> bool:
        subs = self.subscribers
        i = bisect_left(subs, n)
        if i < len(subs) and subs[i] == n:
            return False
        subs.insert(i, n)
        return True

    def remove_subscriber(self, n: int) -> bool:
        subs = self.subscribers
        i = bisect_left(subs, n)
        if i < len(subs) and subs[i] == n:
            del subs[i]
            return True
        return False

    def subscriber_page(self, after: int | None, count: int) -> tuple[array, bool]:
        """Subscribers strictly greater than ``after`` (sorted), at most ``count``, and whether more exist."""
        subs = self.subscribers
        start = 0 if after is None else bisect_right(subs, after)
        page = subs[start : start + count]
        return page, start + count < len(subs)


@dataclass
class Connector:
    """A registered connector (application) with its token kind and permissions."""

    application_id: str
    secret: str
    name: str
    tenant_id: str
    phone: str
    permissions: set[str]
    group_id: str | None = None  # set for a group token
    endpoint: str = ""  # current endpoint base URL, no trailing slash


@dataclass
class RefreshToken:
    application_id: str
    issued: float
    expiry: float


@dataclass
class Pin:
    """A one-time PIN sent by ``generatePin`` (the emulator's "SMS", readable through the admin API)."""

    pin: int
    expiry: float
    attempts: int = 0


@dataclass
class AccessToken:
    application_id: str
    expiry: float


@dataclass
class Message:
    reference_id: str
    group_id: str
    message: str
    subscribers: list[str]
    send_to_all: bool
    sender: str
    ts: float

    def to_json(self) -> dict[str, Any]:
        return {
            "referenceId": self.reference_id,
            "groupId": self.group_id,
            "message": self.message,
            "subscribers": self.subscribers,
            "sendToAllSubscribers": self.send_to_all,
            "sender": self.sender,
            "ts": int(self.ts * 1000),
        }


@dataclass
class MediaFile:
    """One uploaded file (metadata only; the bytes are not kept)."""

    file_id: str
    name: str
    size: int  # bytes
    content_type: str
    url: str
    sha256: str = ""
    width: int | None = None
    height: int | None = None


@dataclass
class MediaResource:
    """What a ``mediaResource`` string stands for: an action type and its files."""

    resource: str  # the opaque string handed to the client
    action_type: str  # Image, Album, Audio, Document, Video
    files: list[MediaFile]
    uploader: str  # application id
    ts: float
    source_url: str | None = None  # MD2 (media by URL)

    def to_json(self) -> dict[str, Any]:
        return {
            "mediaResource": self.resource,
            "actionType": self.action_type,
            "uploader": self.uploader,
            "sourceUrl": self.source_url,
            "ts": int(self.ts * 1000),
            "files": [
                {
                    "id": f.file_id,
                    "name": f.name,
                    "size": f.size,
                    "contentType": f.content_type,
                    "url": f.url,
                    "sha256": f.sha256,
                    "width": f.width,
                    "height": f.height,
                }
                for f in self.files
            ],
        }


@dataclass
class ActionResponse:
    """A response to a Job/Survey/Poll/LetsMeet/custom action (``answers`` positional, normalised)."""

    response_id: str
    action_id: str
    responder: str
    answers: list[Any] | None = None
    is_completed: bool | None = None  # Job
    response_name: str | None = None
    response_location: dict[str, Any] | None = None
    created_ms: int = 0
    updated_ms: int = 0
    update_count: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "responseId": self.response_id,
            "actionId": self.action_id,
            "responder": self.responder,
            "answers": self.answers,
            "isCompleted": self.is_completed,
            "responseName": self.response_name,
            "responseLocation": self.response_location,
            "createdMs": self.created_ms,
            "updatedMs": self.updated_ms,
            "updateCount": self.update_count,
        }


@dataclass
class Action:
    """A posted action (Job, Survey, Poll, LetsMeet, Announcement, media, or a custom package instance)."""

    action_id: str
    reference_id: str
    group_id: str
    action_type: str  # canonical name, or "Custom" for a package instance
    package_id: str | None
    body: dict[str, Any]  # normalised actionBody (camelCase keys)
    sender: str
    sent_ms: int
    subscribers: list[str] = field(default_factory=list)
    send_to_all: bool = False
    media: list[MediaResource] = field(default_factory=list)
    responses: list[ActionResponse] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "actionId": self.action_id,
            "referenceId": self.reference_id,
            "groupId": self.group_id,
            "actionType": self.action_type,
            "actionPackageId": self.package_id,
            "actionBody": self.body,
            "sender": self.sender,
            "sentAtMs": self.sent_ms,
            "subscribers": self.subscribers,
            "sendToAllSubscribers": self.send_to_all,
            "responseCount": len(self.responses),
        }


@dataclass
class Reaction:
    """A Like or Comment on a message or action (R1)."""

    reaction_id: str
    group_id: str  # group of the R1 call
    source_group_id: str  # group the message/action was posted in
    reference_id: str
    reaction_type: str  # Like / Comment
    user: str  # phone
    comment: str | None
    ticks: int  # .NET ticks of the last modification (distinct per change)


@dataclass
class Webhook:
    """A registered webhook (W1) with its delivery bookkeeping."""

    webhook_id: str
    object_id: str
    object_type: str  # Group / Action / ActionPackage
    events: list[str]
    callback_url: str
    callback_token: str
    callback_context: str
    ts: int  # creation, epoch ms
    validity: int  # expiry, epoch ms
    tenant_id: str
    creator: str  # application id
    active: bool = True
    disabled_reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The W2 (GET) spelling of the fields."""
        return {
            "id": self.webhook_id,
            "objectId": self.object_id,
            "objectType": self.object_type,
            "events": list(self.events),
            "filters": [],
            "callbackUrl": self.callback_url,
            "callbackToken": self.callback_token,
            "callBackContext": self.callback_context,
            "ts": self.ts,
            "validity": self.validity,
            "active": self.active,
        }


class State:
    """All mutable emulator data. ``reset()`` brings it back to empty."""

    def __init__(self, id_seed: int = 0) -> None:
        self.id_seed = id_seed
        self.clock = Clock()
        self.on_event: EventSink | None = None  # survives reset()
        self.on_credentials: Callable[[], None] | None = None  # called when connectors/refresh tokens change
        self.reset()

    def reset(self) -> None:
        self.rng = random.Random(self.id_seed)
        self.churn_rng = random.Random(self.id_seed + 7919)
        self.event_rng = random.Random(self.id_seed + 31337)  # event ids (so events never shift other ids)
        self.clock.offset = 0.0
        self.connectors: dict[str, Connector] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.pins: dict[tuple[str, str], Pin] = {}  # (applicationId, phone) -> the last PIN sent
        self.kept_connectors: list[str] = []  # ids loaded from a --state-file (the demo seed reuses its own)
        self.access_tokens: dict[str, AccessToken] = {}
        self.revoked_tokens: dict[str, str] = {}  # revoked access token -> application id (for the call log)
        self.groups: dict[str, Group] = {}
        self.provisioned: dict[str, bool] = {}  # explicit overrides
        self.messages: list[Message] = MessageLog(self)
        self.media: dict[str, MediaResource] = {}  # mediaResource string -> metadata
        self.actions: dict[str, Action] = {}  # actionId -> action, in posting order
        self.reactions: list[Reaction] = []
        self.webhooks: dict[str, Webhook] = {}
        self.last_action_ms = 0
        self.last_ticks = 0
        self.credentials_changed()

    def credentials_changed(self) -> None:
        """Tell the credential store (``--state-file``), if any, that connectors or refresh tokens changed."""
        if getattr(self, "on_credentials", None) is not None:
            self.on_credentials()  # type: ignore[misc]

    # -- events and monotonic stamps -------------------------------------------------------------------
    def emit(self, event_type: str, group_id: str, data: dict[str, Any], actor: str | None = None) -> None:
        """Report an event to the webhook deliverer (if the app installed one)."""
        if self.on_event is not None:
            self.on_event(event_type, group_id, data, actor if actor is not None else CURRENT_ACTOR.get())

    def next_action_ms(self) -> int:
        """Sent time of a new action in epoch ms, strictly after the previous one (no two share a ms)."""
        ms = max(int(self.clock.now() * 1000), self.last_action_ms + 1)
        self.last_action_ms = ms
        return ms

    def next_ticks(self) -> int:
        """A .NET-ticks timestamp of now, strictly increasing (reaction cursors)."""
        ticks = max(int(self.clock.now() * 1000) * 10_000 + TICKS_AT_EPOCH, self.last_ticks + 1)
        self.last_ticks = ticks
        return ticks

    def find_reference(self, reference_id: str) -> tuple[str, Message | Action] | None:
        """``(group_id, message-or-action)`` for a message/action ``referenceId`` (or an ``actionId``)."""
        action = self.actions.get(reference_id)
        if action is not None:
            return action.group_id, action
        for action in self.actions.values():
            if action.reference_id == reference_id:
                return action.group_id, action
        for msg in self.messages:
            if msg.reference_id == reference_id:
                return msg.group_id, msg
        return None

    # -- ids -----------------------------------------------------------------------------------
    def new_guid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def new_event_id(self) -> str:
        return str(uuid.UUID(int=self.event_rng.getrandbits(128), version=4))

    def new_group_id(self) -> str:
        return f"{self.new_guid()}@1"

    def is_provisioned(self, phone: str) -> bool:
        got = self.provisioned.get(phone)
        return default_provisioned(phone) if got is None else got

    def random_phone(self, rng: random.Random, taken: Any = None) -> str:
        """A valid synthetic phone number not in ``taken`` (a container of E.164 strings)."""
        while True:
            phone = f"+{rng.randint(SYNTH_LOW, SYNTH_HIGH)}"
            if taken is None or phone not in taken:
                return phone

    # -- connectors and tokens ------------------------------------------------------------------
    def create_connector(
        self,
        *,
        endpoint: str,
        name: str | None = None,
        phone: str | None = None,
        tenant_id: str | None = None,
        permissions: Iterable[str] | None = None,
        group_id: str | None = None,
    ) -> tuple[Connector, str]:
        app_id = f"{self.new_guid()}@2"
        while app_id in self.connectors:  # connectors loaded from a state file took ids of this sequence
            app_id = f"{self.new_guid()}@2"
        conn = Connector(
            application_id=app_id,
            secret=new_secret("", 24),
            name=name or f"connector-{len(self.connectors) + 1}",
            tenant_id=tenant_id or "00000000-0000-4000-8000-000000000001",
            phone=phone or self.random_phone(self.rng),
            permissions=set(ALL_PERMISSIONS if permissions is None else permissions),
            group_id=group_id,
            endpoint=endpoint,
        )
        self.connectors[app_id] = conn
        return conn, self.issue_refresh_token(app_id)

    def issue_refresh_token(self, app_id: str, *, replace: bool = False) -> str:
        """A new refresh token; ``replace`` invalidates the connector's others (a token *generated* anew, by the
        portal or a PIN login; rotation by ``accessToken`` keeps the old one valid until it expires)."""
        if replace:
            for token in [t for t, rt in self.refresh_tokens.items() if rt.application_id == app_id]:
                del self.refresh_tokens[token]
        token = new_secret("rt.", 32)
        now = self.clock.now()
        self.refresh_tokens[token] = RefreshToken(app_id, now, now + REFRESH_TOKEN_LIFETIME)
        self.credentials_changed()
        return token

    def newest_refresh_token(self, app_id: str) -> str | None:
        """The most recently issued refresh token of a connector that has not expired."""
        now = self.clock.now()
        live = [
            (rt.issued, t) for t, rt in self.refresh_tokens.items() if rt.application_id == app_id and rt.expiry > now
        ]
        return max(live)[1] if live else None

    def delete_connector(self, app_id: str) -> None:
        """Remove a connector: its refresh tokens stop working and its access tokens are revoked."""
        self.expire_access_tokens(app_id)
        for token in [t for t, rt in self.refresh_tokens.items() if rt.application_id == app_id]:
            del self.refresh_tokens[token]
        for key in [k for k in self.pins if k[0] == app_id]:
            del self.pins[key]
        del self.connectors[app_id]
        if app_id in self.kept_connectors:
            self.kept_connectors.remove(app_id)
        self.credentials_changed()

    def send_pin(self, app_id: str, phone: str) -> Pin:
        """Create the one-time PIN ``generatePin`` sends (a new one replaces the previous)."""
        pin = Pin(secrets.randbelow(9000) + 1000, self.clock.now() + PIN_LIFETIME)
        self.pins[(app_id, phone)] = pin
        return pin

    def use_pin(self, app_id: str, phone: str, value: int) -> bool:
        """Whether ``value`` is the live PIN of (connector, phone); a right PIN is used up, wrong ones count."""
        pin = self.pins.get((app_id, phone))
        if pin is None or pin.expiry <= self.clock.now():
            return False
        if secrets.compare_digest(str(pin.pin), str(value)):
            del self.pins[(app_id, phone)]
            return True
        pin.attempts += 1
        if pin.attempts >= PIN_ATTEMPTS:
            del self.pins[(app_id, phone)]
        return False

    def issue_access_token(self, app_id: str, lifetime: float) -> tuple[str, AccessToken]:
        token = new_secret("at.", 32)
        at = AccessToken(app_id, self.clock.now() + lifetime)
        self.access_tokens[token] = at
        return token, at

    def expire_access_tokens(self, app_id: str | None = None) -> int:
        doomed = [t for t, at in self.access_tokens.items() if app_id is None or at.application_id == app_id]
        for t in doomed:
            self.revoked_tokens[t] = self.access_tokens.pop(t).application_id
        return len(doomed)

    # -- groups -----------------------------------------------------------------------------------
    def create_group(
        self,
        *,
        name: str,
        group_type: str = "Group",
        welcome_message: str = "",
        members: Iterable[str] = (),
        admins: Iterable[str] = (),
        parent_id: str | None = None,
        tenant_id: str = "",
        image_url: str = "",
    ) -> Group:
        group = Group(
            group_id=self.new_group_id(),
            name=name,
            group_type=group_type,
            welcome_message=welcome_message,
            image_url=image_url,
            tenant_id=tenant_id,
            created=self.clock.now(),
        )
        initial: dict[str, Member] = {}
        for phone in admins:
            initial[phone] = Member(phone, "Admin")
        for phone in members:
            initial.setdefault(phone, Member(phone, "Member"))
        group.members = MemberMap(group.group_id, self, initial)  # later changes emit MemberAdded/Removed
        self.groups[group.group_id] = group
        if parent_id is not None:
            self.attach(parent_id, group.group_id)
        return group

    def attach(self, parent_id: str, child_id: str) -> None:
        parent, child = self.groups[parent_id], self.groups[child_id]
        added = child_id not in parent.children
        if added:
            parent.children.append(child_id)
        if parent_id not in child.parents:
            child.parents.append(parent_id)
        if added:
            self.emit("GroupAdded", parent_id, self._group_event_data(parent_id, child_id))

    def detach(self, parent_id: str, child_id: str) -> None:
        parent, child = self.groups[parent_id], self.groups[child_id]
        parent.children.remove(child_id)
        child.parents.remove(parent_id)
        self.emit("GroupRemoved", parent_id, self._group_event_data(parent_id, child_id))

    def _group_event_data(self, parent_id: str, child_id: str) -> dict[str, Any]:
        child = self.groups[child_id]
        return {"groupId": child_id, "groupName": child.name, "groupType": child.group_type, "parentGroupId": parent_id}

    def descendants(self, group_id: str) -> Iterator[str]:
        """Ids of every group below ``group_id`` (each once)."""
        seen: set[str] = set()
        stack = list(self.groups[group_id].children)
        while stack:
            gid = stack.pop()
            if gid in seen:
                continue
            seen.add(gid)
            yield gid
            stack.extend(self.groups[gid].children)

    def ancestors(self, group_id: str) -> set[str]:
        seen: set[str] = set()
        stack = list(self.groups[group_id].parents)
        while stack:
            gid = stack.pop()
            if gid not in seen:
                seen.add(gid)
                stack.extend(self.groups[gid].parents)
        return seen

    def hierarchy_users(self, group_id: str) -> set[str]:
        users = set(self.groups[group_id].members)
        for gid in self.descendants(group_id):
            users.update(self.groups[gid].members)
        return users

    def add_synthetic_subscribers(self, group: Group, count: int, rng: random.Random) -> None:
        """Add ``count`` distinct synthetic subscribers quickly (sorted merge, no per-number validation)."""
        if count <= 0:
            return
        span = SYNTH_HIGH - SYNTH_LOW + 1
        step = span // count
        if step < 2:
            raise ValueError("too many synthetic subscribers")
        # One number per stride: distinct and sorted by construction.
        rand = rng.randrange
        fresh = array("q", (SYNTH_LOW + i * step + rand(step) for i in range(count)))
        if not group.subscribers:
            group.subscribers = fresh
            return
        merged = sorted(set(group.subscribers).union(fresh))
        group.subscribers = array("q", merged)


# -- subscriber cursor ----------------------------------------------------------------------------
def encode_cursor(group_id: str, last: int, issued: float | None = None) -> str:
    """Opaque cursor: the last phone returned, tied to its group, and its issue time (clock seconds) if given."""
    tag = hashlib.blake2b(group_id.encode(), digest_size=3).hexdigest()
    text = f"{tag}:{last:x}" if issued is None else f"{tag}:{last:x}:{int(issued * 1000):x}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(group_id: str, cursor: str) -> tuple[int, float | None]:
    """Inverse of :func:`encode_cursor`: (last phone, issue time or ``None``); ``ValueError`` on a foreign or
    malformed cursor."""
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    tag, _, rest = raw.partition(":")
    last, _, issued = rest.partition(":")
    if tag != hashlib.blake2b(group_id.encode(), digest_size=3).hexdigest() or not last:
        raise ValueError("cursor does not belong to this group")
    return int(last, 16), (int(issued, 16) / 1000 if issued else None)
