"""Long walks report progress through one time-based reporter: pages, people, rate, budget share and ETA.

The interval is set to a tiny value so that every page writes a line (the tests are not timed).
"""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_kaizala.exceptions import KaizalaBadRequestError, KaizalaValidationError
from tests.hooks.conftest import async_hook


def progress_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The progress lines the hook's (structlog) task logger wrote; each must be at INFO."""
    lines = [line for line in capsys.readouterr().out.splitlines() if "Kaizala walk of" in line]
    assert all("[info" in line for line in lines), lines
    return [line[line.index("Kaizala walk of") :] for line in lines]


def test_subscriber_walk_logs_progress_with_rate_budget_and_eta(tenant, capsys):
    hook = tenant.hook(budget_backend="local")
    hook.progress_interval = 1e-9
    pages = list(hook.iter_subscriber_pages(tenant.public_group_id, page_size=50, total=tenant.subscriber_count))
    assert sum(len(page) for page in pages) == tenant.subscriber_count
    lines = progress_lines(capsys)
    assert len(lines) == len(pages) + 1  # one per page, and the closing line
    first = lines[0]
    assert f"subscribers of group {tenant.public_group_id}" in first
    assert "1 pages, 50 people" in first
    assert "people/min" in first
    assert "budget in use" in first
    assert "connector" in first
    assert f"left for {tenant.subscriber_count - 50:,} of {tenant.subscriber_count:,}" in first
    assert "done, 5 pages, 237 people" in lines[-1]


def test_iter_subscribers_passes_its_total_to_the_progress_lines(tenant, capsys):
    hook = tenant.hook(budget_backend="local")
    hook.progress_interval = 1e-9
    assert len(list(hook.iter_subscribers(tenant.public_group_id, total=tenant.subscriber_count))) == (
        tenant.subscriber_count
    )
    assert f"left for {tenant.subscriber_count - 50:,} of {tenant.subscriber_count:,}" in progress_lines(capsys)[0]


def test_subscriber_walk_without_total_has_no_eta(tenant, capsys):
    hook = tenant.hook()
    hook.progress_interval = 1e-9
    list(hook.iter_subscriber_pages(tenant.public_group_id))
    lines = progress_lines(capsys)
    assert lines
    assert not any("left" in line for line in lines)


def test_a_short_walk_at_the_default_interval_is_silent(tenant, capsys):
    list(tenant.hook().iter_subscriber_pages(tenant.public_group_id))
    assert progress_lines(capsys) == []


def test_walk_with_cursor_yields_the_next_cursor_and_resumes_from_it(tenant):
    hook = tenant.hook()
    walked = list(hook.iter_subscriber_pages(tenant.public_group_id, page_size=50, with_cursor=True))
    cursors = [cursor for _, cursor in walked]
    assert cursors[-1] is None
    assert all(cursors[:-1])
    rest = list(hook.iter_subscriber_pages(tenant.public_group_id, page_size=50, cursor=cursors[1]))
    assert rest == [items for items, _ in walked[2:]]


def test_bad_cursor_fails_before_any_call(tenant):
    hook = tenant.hook()
    for bad in ("", "   ", 12, "x" * 5000):
        with pytest.raises(KaizalaValidationError, match="cursor"):
            next(hook.iter_subscriber_pages(tenant.public_group_id, cursor=bad))
    assert tenant.calls() == []


def test_unknown_cursor_is_a_bad_request(tenant):
    with pytest.raises(KaizalaBadRequestError):
        next(tenant.hook().iter_subscriber_pages(tenant.public_group_id, cursor="no-such-cursor"))


def test_async_subscriber_walk_logs_progress_and_yields_cursors(tenant, capsys):

    async def run() -> list[tuple[list, str | None]]:
        async with async_hook(tenant) as hook:
            hook.progress_interval = 1e-9
            pages = hook.iter_subscriber_pages(tenant.public_group_id, with_cursor=True, total=tenant.subscriber_count)
            return [page async for page in pages]

    walked = asyncio.run(run())
    assert sum(len(items) for items, _ in walked) == tenant.subscriber_count
    assert walked[-1][1] is None
    lines = progress_lines(capsys)
    assert len(lines) == len(walked) + 1
    assert "budget in use" in lines[0]
    assert "left for" in lines[0]


def test_action_and_reaction_walks_log_progress(tenant, capsys):
    hook = tenant.hook()
    hook.progress_interval = 1e-9
    reference = hook.send_message(tenant.group_id, "hello")["referenceId"]
    hook.add_reaction(tenant.group_id, reference)
    list(hook.iter_actions(tenant.group_id, "Survey"))
    list(hook.iter_reactions(tenant.group_id, reference))
    list(hook.iter_group_reactions(tenant.group_id))
    lines = progress_lines(capsys)
    assert any(f"Survey actions of group {tenant.group_id}" in line for line in lines)
    assert any("reactionDetails of " in line for line in lines)
    assert any("summary of " in line for line in lines)
