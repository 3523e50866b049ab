"""Property tests (hypothesis) of the pure parts: URLs, Retry-After, phone numbers, the limiter, snapshot diffs.

Deterministic: every test runs under ``derandomize=True`` with a fixed example budget and no example database,
so the default run is reproducible and writes nothing to the working tree. ``--hypothesis-show-statistics``
prints the examples run per test.
"""

from __future__ import annotations

import fnmatch
import math
import string
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import pendulum
import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from airflow_provider_kaizala import membership
from airflow_provider_kaizala.exceptions import KaizalaValidationError
from airflow_provider_kaizala.hooks.policy import (
    api_url,
    host_allowed,
    is_loopback,
    parse_allowed_hosts,
    parse_retry_after,
    relocation_base,
)
from airflow_provider_kaizala.hooks.validation import validate_phone_number
from airflow_provider_kaizala.membership import ADMIN, PROVISIONED, MembershipSnapshot


def deterministic(max_examples: int) -> settings:
    return settings(
        derandomize=True,
        database=None,
        deadline=None,
        max_examples=max_examples,
        suppress_health_check=[HealthCheck.too_slow],
    )


# --------------------------------------------------------------------------------------------- URLs

_label = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=10)
hosts = st.lists(_label, min_size=1, max_size=4).map(".".join)
ports = st.one_of(st.none(), st.integers(1, 65535))
#: Path segments of an endpoint prefix (``/kaizala/api``); never the ``v1`` segment itself.
prefix_segments = st.lists(
    st.text(string.ascii_letters + string.digits + "-_", min_size=1, max_size=8).filter(lambda s: s.lower() != "v1"),
    max_size=3,
)
api_paths = st.lists(st.text(string.ascii_letters + string.digits + "-_@.", min_size=1, max_size=12), max_size=4).map(
    "/".join
)


def _origin(scheme: str, host: str, port: int | None) -> str:
    return f"{scheme}://{host}" + (f":{port}" if port is not None else "")


@deterministic(300)
@given(
    scheme=st.sampled_from(["http", "https"]),
    host=hosts,
    port=ports,
    prefix=prefix_segments,
    suffix=st.sampled_from(["", "/", "/v1", "/v1/", "/V1", "/V1/"]),
    path=api_paths,
    leading_slash=st.booleans(),
)
def test_api_url_joins_any_endpoint_spelling_to_one_v1(scheme, host, port, prefix, suffix, path, leading_slash):
    base = _origin(scheme, host, port) + "".join(f"/{s}" for s in prefix)
    url = api_url(base + suffix, ("/" if leading_slash else "") + path)
    assert url == f"{base}/v1/{path}"
    assert url == api_url(base, path)  # the endpointUrl's spelling never changes the URL
    parts = urlsplit(url)
    assert (parts.scheme, parts.hostname, parts.port) == (scheme, host, port)
    assert "//" not in parts.path


@deterministic(300)
@given(
    scheme=st.sampled_from(["http", "https"]),
    host=hosts,
    port=ports,
    prefix=prefix_segments,
    tail=st.one_of(
        st.sampled_from(["", "/", "/v1", "/v1/", "/V1/"]),
        api_paths.map(lambda p: f"/v1/{p}"),
        api_paths.map(lambda p: f"/V1/{p}"),
    ),
    query=st.sampled_from(["", "?cursor=abc", "?x=/v1/y", "#/v1/frag"]),
    request_path=api_paths,
)
def test_relocation_base_keeps_only_origin_and_prefix(scheme, host, port, prefix, tail, query, request_path):
    origin = _origin(scheme, host, port)
    prefix_path = "".join(f"/{s}" for s in prefix)
    location = origin + prefix_path + tail + query
    request_url = f"https://old.kaiza.la/v1/{request_path}"
    base = relocation_base(location, request_url)
    if tail.lower().startswith("/v1") or not prefix:
        assert base == f"{origin}{prefix_path}/"
    else:
        # No /v1 in the Location: the whole path is dropped (the reference's decision).
        assert base == f"{origin}/"
    parts = urlsplit(base)
    assert not parts.query
    assert not parts.fragment
    assert base.endswith("/")
    assert not base.endswith("//")
    # The base re-announced with /v1 is a fixed point, and API URLs built on it carry the prefix and one /v1.
    assert relocation_base(base + "v1/", request_url) == base
    assert api_url(base, request_path) == f"{base}v1/{request_path}"


@deterministic(200)
@given(
    host=hosts,
    port=ports,
    path=st.sampled_from(["", "/", "/v1/groups"]),
    relative=st.sampled_from(["/", "/v1/", "/v1/groups/x", "../v1/", "v1/"]),
)
def test_relative_relocation_stays_on_the_request_origin(host, port, path, relative):
    request_url = _origin("https", host, port) + f"/v1/groups/g{path}"
    base = relocation_base(relative, request_url)
    parts = urlsplit(base)
    assert (parts.scheme, parts.hostname, parts.port) == ("https", host, port)
    assert parts.path == "/"


allowed_lists = st.lists(
    st.one_of(hosts, hosts.map(lambda h: f"*.{h}"), st.sampled_from(["127.0.0.1", "localhost", "*.kaiza.la"])),
    min_size=1,
    max_size=4,
)


@deterministic(400)
@given(
    allowed=allowed_lists,
    host=st.one_of(hosts, st.sampled_from(["127.0.0.1", "localhost", "api.kaiza.la", "kaiza.la", "x.y.kaiza.la"])),
    scheme=st.sampled_from(["http", "https", "ftp", "ws", "HTTP", "file"]),
    port=ports,
    upper=st.booleans(),
)
def test_host_allowed_http_only_to_named_hosts_https_to_patterns(allowed, host, scheme, port, upper):
    patterns = parse_allowed_hosts(",".join(allowed))
    shown = host.upper() if upper else host
    url = _origin(scheme, shown, port) + "/"
    result = host_allowed(url, patterns)
    scheme_l = urlsplit(url).scheme
    if scheme_l == "http":
        # a pattern never admits plain http, only the exact name of a loopback host does
        assert result == (host in patterns and is_loopback(host))
        if not any(p == host for p in patterns):
            assert result is False
    elif scheme_l == "https":
        assert result == any(fnmatch.fnmatchcase(host, p) for p in patterns)
    else:
        assert result is False


@deterministic(200)
@given(
    allowed_host=st.sampled_from(["127.0.0.1", "api.kaiza.la"]), evil=hosts, scheme=st.sampled_from(["http", "https"])
)
def test_host_allowed_is_not_fooled_by_userinfo(allowed_host, evil, scheme):
    assume(evil != allowed_host and not evil.endswith(".kaiza.la"))
    url = f"{scheme}://{allowed_host}@{evil}/v1/"
    assert host_allowed(url, ("127.0.0.1", "*.kaiza.la")) is False


# ------------------------------------------------------------------------------------- Retry-After

NOW = pendulum.datetime(2026, 11, 27, 12, 0, 0, tz="UTC")
caps = st.floats(min_value=0.0, max_value=3600.0, allow_nan=False)


@deterministic(300)
@given(
    value=st.one_of(
        st.text(max_size=40),
        st.integers(-(10**12), 10**12).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.datetimes().map(lambda d: format_datetime(d.replace(tzinfo=None), usegmt=False)),
    ),
    cap=caps,
)
def test_retry_after_is_never_negative_nor_above_the_cap(value, cap):
    seconds = parse_retry_after(value, NOW, cap)
    assert seconds is None or (0.0 <= seconds <= cap and not math.isnan(seconds))


@deterministic(200)
@given(seconds=st.integers(-(10**9), 10**9), cap=caps, pad=st.sampled_from(["", " ", "\t"]))
def test_retry_after_integers_round_trip(seconds, cap, pad):
    assert parse_retry_after(f"{pad}{seconds}{pad}", NOW, cap) == min(max(float(seconds), 0.0), cap)


@deterministic(200)
@given(seconds=st.integers(-(10**7), 10**7), cap=caps)
def test_retry_after_http_dates_round_trip(seconds, cap):
    when = datetime.fromtimestamp(NOW.add(seconds=seconds).timestamp(), tz=UTC)
    header = format_datetime(when, usegmt=True)  # IMF-fixdate, e.g. "Fri, 27 Nov 2026 12:00:00 GMT"
    assert parse_retry_after(header, NOW, cap) == min(max(float(seconds), 0.0), cap)


def test_retry_after_absent_or_garbage_is_none():
    for value in (None, "", "   ", "soon", "nan", "Mon, 32 Foo 2026"):
        assert parse_retry_after(value, NOW, 120.0) is None


# ----------------------------------------------------------------------------------- phone numbers

REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
NUMBER_TYPES = [
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    phonenumbers.PhoneNumberType.TOLL_FREE,
]
FORMATS = [phonenumbers.PhoneNumberFormat.E164, phonenumbers.PhoneNumberFormat.INTERNATIONAL]


@deterministic(400)
@given(
    region=st.sampled_from(REGIONS),
    kind=st.sampled_from(NUMBER_TYPES),
    style=st.sampled_from(FORMATS),
    pad=st.sampled_from(["", " ", "  \t"]),
)
def test_valid_numbers_of_any_region_normalise_idempotently(region, kind, style, pad):
    example = phonenumbers.example_number_for_type(region, kind)
    assume(example is not None and phonenumbers.is_valid_number(example))
    e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    written = pad + phonenumbers.format_number(example, style) + pad
    normalised = validate_phone_number(written, "members[0]")
    assert normalised == e164
    assert validate_phone_number(normalised, "members[0]") == normalised


def test_every_region_has_a_number_that_validates():
    checked = 0
    for region in REGIONS:
        example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        if example is None or not phonenumbers.is_valid_number(example):
            continue
        e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
        assert validate_phone_number(e164) == e164
        checked += 1
    assert checked > 200


field_names = st.text(string.ascii_lowercase + "_", min_size=1, max_size=12)


@deterministic(400)
@given(value=st.text(max_size=30).filter(lambda s: not s.strip().startswith("+")), field=field_names)
def test_strings_without_a_leading_plus_are_rejected_naming_the_field(value, field):
    with pytest.raises(KaizalaValidationError, match=rf"^Invalid {field}=") as info:
        validate_phone_number(value, field)
    assert "E.164" in str(info.value)


@deterministic(100)
@given(
    value=st.one_of(st.none(), st.integers(), st.floats(), st.lists(st.text(max_size=3), max_size=2)),
    field=field_names,
)
def test_non_strings_are_rejected_naming_the_field(value, field):
    with pytest.raises(KaizalaValidationError, match=rf"^Invalid {field}="):
        validate_phone_number(value, field)


# ------------------------------------------------------------------------------------------ limiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ------------------------------------------------------------------------------------------- diffs

e164_numbers = st.integers(10**6, 10**15 - 1).map(lambda n: f"+{n}")


def _renamed_by_snapshot(number: str) -> bool:
    """Inputs hit by the two bugs reproduced at the end of this file (kept out of the general properties)."""
    digits = number[1:] if number.startswith("+") else ""
    return number == "" or (digits.isdigit() and len(digits) <= 15 and digits.startswith("0"))


odd_numbers = st.one_of(
    st.text(max_size=12),  # no plus, letters, a lone "+" ...
    st.text(string.digits, min_size=16, max_size=18).map(lambda d: f"+{d}"),  # too long for E.164
    st.text(string.digits, min_size=2, max_size=10).map(lambda d: f"+{d[:1]} {d[1:]}"),  # spaced
).filter(lambda number: not _renamed_by_snapshot(number))
numbers = st.one_of(e164_numbers, e164_numbers, odd_numbers)
person_flags = st.tuples(st.booleans(), st.booleans())  # (isProvisioned, Admin)
memberships = st.dictionaries(numbers, person_flags, max_size=60)


def people(members: dict[str, tuple[bool, bool]], provisioned_as_text: bool = False) -> list[dict[str, Any]]:
    result = []
    for number, (provisioned, admin) in members.items():
        flag: Any = str(provisioned).lower() if provisioned_as_text else provisioned
        result.append({"mobileNumber": number, "isProvisioned": flag, "role": "Admin" if admin else "Member"})
    return result


def reference_diff(old: dict[str, tuple[bool, bool]], new: dict[str, tuple[bool, bool]]) -> dict[str, set]:
    def row(number: str, flags: tuple[bool, bool]) -> tuple[str, bool, str]:
        return number, flags[0], "Admin" if flags[1] else "Member"

    return {
        "added": {row(n, new[n]) for n in new.keys() - old.keys()},
        "removed": {row(n, old[n]) for n in old.keys() - new.keys()},
        "changed": {(*row(n, new[n]), *row(n, old[n])[1:]) for n in old.keys() & new.keys() if old[n] != new[n]},
    }


def rows_as_sets(diff: membership.MembershipDiff) -> dict[str, set]:
    result: dict[str, set] = {"added": set(), "removed": set(), "changed": set()}
    for r in diff.rows():
        item: tuple = (r["mobileNumber"], r["isProvisioned"], r["role"])
        if r["change"] == "changed":
            item = (*item, r["wasProvisioned"], r["previousRole"])
        result[r["change"]].add(item)
    return result


def related_memberships() -> st.SearchStrategy[tuple[dict, dict]]:
    """A baseline and a current membership that share most people (churn, role and provisioning changes)."""

    @st.composite
    def build(draw: Any) -> tuple[dict, dict]:
        old = draw(memberships)
        keep = draw(st.lists(st.booleans(), min_size=len(old), max_size=len(old)))
        flip = draw(st.lists(st.sampled_from([None, (0, 1), (1, 0), (1, 1)]), min_size=len(old), max_size=len(old)))
        new: dict[str, tuple[bool, bool]] = {}
        for (number, flags), kept, change in zip(old.items(), keep, flip, strict=True):
            if kept:
                new[number] = flags if change is None else (flags[0] ^ bool(change[0]), flags[1] ^ bool(change[1]))
        new.update(draw(memberships))
        return old, new

    return build()


@deterministic(300)
@given(pair=related_memberships(), chunk=st.sampled_from([membership._CHUNK, 1, 2, 3, 7]), text_flags=st.booleans())
def test_snapshot_diff_equals_a_set_based_reference(pair, chunk, text_flags):
    old, new = pair
    with mock.patch.object(membership, "_CHUNK", chunk):  # small chunks exercise the skip-equal-runs path
        baseline = MembershipSnapshot.from_people(people(old, text_flags))
        current = MembershipSnapshot.from_people(people(new))
        diff = baseline.diff(current)
    expected = reference_diff(old, new)
    assert rows_as_sets(diff) == expected
    assert diff.count() == sum(len(v) for v in expected.values())
    assert (diff.count("added"), diff.count("removed")) == (len(expected["added"]), len(expected["removed"]))
    assert (len(baseline), len(current)) == (len(old), len(new))
    assert list(baseline.values) == sorted(baseline.values)


@deterministic(200)
@given(members=memberships, repeat=st.integers(1, 3))
def test_snapshot_ignores_repeated_people_and_order(members, repeat):
    listing = people(members)
    once = MembershipSnapshot.from_people(listing)
    again = MembershipSnapshot.from_people(list(reversed(listing)) * repeat)
    assert once.values == again.values
    assert once.odd_numbers == again.odd_numbers
    assert once.diff(again).count() == 0
    assert {once.number(v) for v in once.values} == set(members)
    for value in once.values:
        number = once.number(value)
        assert bool(value & PROVISIONED) == members[number][0]
        assert bool(value & ADMIN) == members[number][1]


@deterministic(200)
@given(members=memberships)
def test_snapshot_bytes_round_trip(members):
    snapshot = MembershipSnapshot.from_people(people(members))
    data = snapshot.to_bytes()
    again = MembershipSnapshot.from_bytes(data)
    assert again.values == snapshot.values
    assert again.odd_numbers == snapshot.odd_numbers
    assert again.to_bytes() == data
    assert again.diff(snapshot).count() == 0
    if len(snapshot):
        with pytest.raises(ValueError, match="not a Kaizala membership snapshot"):
            MembershipSnapshot.from_bytes(data[1:])


# ---------------------------------------------------------------------------- bugs found by the properties


def test_snapshot_keeps_an_empty_mobile_number_as_empty():
    snapshot = MembershipSnapshot.from_people([{"mobileNumber": ""}, {"mobileNumber": "+919812345678"}])
    assert sorted(snapshot.number(v) for v in snapshot.values) == ["", "+919812345678"]


def test_snapshot_does_not_merge_numbers_that_differ_by_leading_zeros():
    snapshot = MembershipSnapshot.from_people([{"mobileNumber": "+0123"}, {"mobileNumber": "+123"}])
    assert sorted(snapshot.number(v) for v in snapshot.values) == ["+0123", "+123"]
