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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

#: Namespace for deterministic user ids (``uuid5(USER_NS, "+91...")``).
USER_NS = uuid.UUID("6f1c2d9e-3b7a-5c4d-8e2f-1a0b9c8d7e6f")

#: Every permission (scope) the emulator knows; a connector gets all of them unless told otherwise.
ALL_PERMISSIONS: tuple[str, ...] = (
    "groupinfo.read",
    "groupinfo.write",
    "groupinfo.remove",
    "groupinfo.update",
    "groupmember.read",
    "groupmember.write",
    "groupmember.remove",
    "textmessage.read",
    "textmessage.write",
    "action.read",
    "action.write",
    "action.update",
    "profile.write",
    "media.read",
    "media.write",
    "webhook.read",
    "webhook.write",
    "webhook.remove",
    "webhook.update",
    "reaction.read",
    "reaction.write",
)

REFRESH_TOKEN_LIFETIME = 365 * 86400.0
ROTATION_FRACTION = 0.9
GROUP_TYPES = {"group": "Group", "connectgroup": "ConnectGroup"}

#: Synthetic phone numbers are drawn from +9196xxxxxxxx .. +9199xxxxxxxx (all valid Indian mobiles).
SYNTH_LOW = 919600000000
SYNTH_HIGH = 919999999999

_FIRST = ("Aarav", "Priya", "Rohan", "Ananya", "Vikram", "Sneha", "Arjun", "Kavya", "Rahul", "Meera", "Ishaan", "Diya")
_LAST = ("Sharma", "Patel", "Reddy", "Iyer", "Singh", "Gupta", "Nair", "Khan", "Das", "Joshi", "Menon", "Rao")


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


class State:
    """All mutable emulator data. ``reset()`` brings it back to empty."""

    def __init__(self, id_seed: int = 0) -> None:
        self.id_seed = id_seed
        self.clock = Clock()
        self.reset()

    def reset(self) -> None:
        self.rng = random.Random(self.id_seed)
        self.churn_rng = random.Random(self.id_seed + 7919)
        self.clock.offset = 0.0
        self.connectors: dict[str, Connector] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.revoked_tokens: dict[str, str] = {}  # revoked access token -> application id (for the call log)
        self.groups: dict[str, Group] = {}
        self.provisioned: dict[str, bool] = {}  # explicit overrides
        self.messages: list[Message] = []

    # -- ids -----------------------------------------------------------------------------------
    def new_guid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

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
        conn = Connector(
            application_id=app_id,
            secret=secrets.token_urlsafe(24),
            name=name or f"connector-{len(self.connectors) + 1}",
            tenant_id=tenant_id or "00000000-0000-4000-8000-000000000001",
            phone=phone or self.random_phone(self.rng),
            permissions=set(ALL_PERMISSIONS if permissions is None else permissions),
            group_id=group_id,
            endpoint=endpoint,
        )
        self.connectors[app_id] = conn
        return conn, self.issue_refresh_token(app_id)

    def issue_refresh_token(self, app_id: str) -> str:
        token = "rt." + secrets.token_urlsafe(32)
        now = self.clock.now()
        self.refresh_tokens[token] = RefreshToken(app_id, now, now + REFRESH_TOKEN_LIFETIME)
        return token

    def issue_access_token(self, app_id: str, lifetime: float) -> tuple[str, AccessToken]:
        token = "at." + secrets.token_urlsafe(32)
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
        for phone in admins:
            group.members[phone] = Member(phone, "Admin")
        for phone in members:
            group.members.setdefault(phone, Member(phone, "Member"))
        self.groups[group.group_id] = group
        if parent_id is not None:
            self.attach(parent_id, group.group_id)
        return group

    def attach(self, parent_id: str, child_id: str) -> None:
        parent, child = self.groups[parent_id], self.groups[child_id]
        if child_id not in parent.children:
            parent.children.append(child_id)
        if parent_id not in child.parents:
            child.parents.append(parent_id)

    def detach(self, parent_id: str, child_id: str) -> None:
        parent, child = self.groups[parent_id], self.groups[child_id]
        parent.children.remove(child_id)
        child.parents.remove(parent_id)

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
def encode_cursor(group_id: str, last: int) -> str:
    """Opaque cursor: the last phone returned, tied to its group."""
    tag = hashlib.blake2b(group_id.encode(), digest_size=3).hexdigest()
    return base64.urlsafe_b64encode(f"{tag}:{last:x}".encode()).decode().rstrip("=")


def decode_cursor(group_id: str, cursor: str) -> int:
    """Inverse of :func:`encode_cursor`; raises ``ValueError`` on a foreign or malformed cursor."""
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    tag, _, last = raw.partition(":")
    if tag != hashlib.blake2b(group_id.encode(), digest_size=3).hexdigest() or not last:
        raise ValueError("cursor does not belong to this group")
    return int(last, 16)
