"""No duplicate sends: messages and actions are never delivered twice, whatever happens after the server got them.

The emulator answers some sends only after the connection's read timeout (it has already recorded them:
``slow_phase="after"``), drops the connection of others after recording them (``drop_phase="after"``), and
refuses a few with a 5xx before processing them. Every logical send carries a unique text or title, so the
emulator's records can be counted per send:

* a send that returned normally is recorded exactly once (a 503 retried by the hook included);
* a send whose outcome is unknown raised :class:`KaizalaOutcomeUnknownError` saying so, and is recorded at
  most once; exactly the sends the emulator answered late or dropped after recording are such sends;
* no logical send is recorded twice, and nothing else is recorded.

The default run sends 200 (140 messages, 60 actions); ``-m slow`` sends 1,000 (700 + 300).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from airflow_provider_kaizala.exceptions import KaizalaOutcomeUnknownError
from airflow_provider_kaizala.hooks.actions import announcement_body, job_body

TIMEOUT = 0.3
SEND_FAULTS: dict[str, Any] = {
    "slow_rate": 0.1,
    "slow_seconds": 0.8,  # longer than the connection timeout: the hook gives up waiting
    "slow_phase": "after",  # ... after the emulator recorded the send
    "drop_rate": 0.05,
    "drop_phase": "after",  # recorded, then the connection is reset without an answer
    "error_rate": 0.03,
    "error_statuses": [500, 502, 503],  # before processing: 503 is retried, 500/502 leave the outcome unknown
    "fault_paths": r"/(messages|actions)$",
}


def send_all(tenant, total: int, seed: int) -> dict[str, Any]:
    """Send ``total`` messages and actions (7 in 10 are messages) under faults; check the records; return figures."""
    admin = tenant.emulator.admin
    hook = tenant.hook(timeout=TIMEOUT, rate_limit_per_minute=1_000_000, max_retries=8)
    hook.list_members(tenant.group_id)  # token exchanged before the faults are on
    assignees = [m["mobileNumber"] for m in admin.members(tenant.group_id)][:2]
    since = admin.calls()[-1]["seq"]
    admin.faults(fault_seed=seed, **SEND_FAULTS)
    started = time.monotonic()
    outcomes: dict[str, str] = {}
    kinds: dict[str, str] = {}
    unexpected: list[str] = []
    for i in range(total):
        key = f"reliability {seed}-{i:04d}"
        try:
            if i % 10 < 7:
                kinds[key] = "message"
                hook.send_message(tenant.group_id, key)
            elif i % 2:
                kinds[key] = "action"
                hook.post_action(tenant.group_id, job_body(key, assignees), action_type="Job")
            else:
                kinds[key] = "action"
                hook.post_action(tenant.group_id, announcement_body(key, f"Body of {key}"), action_type="Announcement")
            outcomes[key] = "sent"
        except KaizalaOutcomeUnknownError as err:
            outcomes[key] = "unknown"
            text = str(err)
            if "Outcome unknown" not in text or "may have taken effect" not in text or "not repeated" not in text:
                unexpected.append(f"{key}: unclear message {text!r}")
        except Exception as err:
            outcomes[key] = "failed"
            unexpected.append(f"{key}: {type(err).__name__}: {err}")
    elapsed = time.monotonic() - started
    admin.faults(slow_rate=0.0, drop_rate=0.0, error_rate=0.0, fault_paths=None)
    assert not unexpected, f"{len(unexpected)} sends ended otherwise than sent or outcome-unknown: {unexpected[:5]}"

    recorded = Counter(m["message"] for m in admin.messages(tenant.group_id))
    recorded.update(a["actionBody"].get("title") for a in admin.actions(tenant.group_id))
    twice = {key: n for key, n in recorded.items() if n > 1}
    assert not twice, f"{len(twice)} sends recorded more than once, e.g. {list(twice.items())[:5]}"
    strangers = set(recorded) - set(outcomes)
    assert not strangers, f"records of sends never made: {sorted(strangers)[:5]}"
    lost = [key for key, outcome in outcomes.items() if outcome == "sent" and recorded[key] != 1]
    assert not lost, f"{len(lost)} sends reported as sent are not recorded exactly once, e.g. {lost[:5]}"

    # Faults seen by the emulator on the send calls, compared with what the hook reported.
    calls = [c for c in admin.calls(since) if c.get("applicationId") == tenant.application_id]
    faults = Counter(c["fault"] for c in calls if c["fault"])
    errors = Counter(c["status"] for c in calls if c["fault"] == "error")
    unknown = [key for key, outcome in outcomes.items() if outcome == "unknown"]
    unknown_recorded = [key for key in unknown if recorded[key] == 1]
    # A late answer or a drop after recording: recorded, outcome unknown. A 500/502 before processing: not
    # recorded, outcome unknown (the hook cannot tell it from a failure after the effect). A 503: retried.
    assert len(unknown_recorded) == faults["slow"] + faults["drop"]
    assert len(unknown) == faults["slow"] + faults["drop"] + errors[500] + errors[502]
    for seen in (faults["slow"], faults["drop"], errors[503]):  # the faults really happened
        assert seen > 0, (dict(faults), dict(errors))
    assert len(calls) == total + errors[503], "a send was repeated other than after a 503"
    return {
        "seed": seed,
        "sends": total,
        "messages": sum(kind == "message" for kind in kinds.values()),
        "actions": sum(kind == "action" for kind in kinds.values()),
        "sent": total - len(unknown),
        "outcome_unknown": len(unknown),
        "outcome_unknown_recorded": len(unknown_recorded),
        "faults": dict(faults),
        "error_statuses": {str(k): v for k, v in errors.items()},
        "seconds": round(elapsed, 1),
    }


def test_no_duplicate_sends_fast(tenant, record_property):
    record_property("send_figures", send_all(tenant, 200, seed=21))


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_no_duplicate_sends_full(tenant, record_property):
    record_property("send_figures", send_all(tenant, 1_000, seed=22))
