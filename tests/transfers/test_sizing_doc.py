"""docs/sizing.rst states figures computed from the code's constants (issue 17, point 6): they cannot drift."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from airflow_provider_kaizala.hooks.budget import BULK_BURST, DEFAULT_BULK_SHARE, IDLE_RESERVE
from airflow_provider_kaizala.hooks.policy import DEFAULT_RATE_LIMIT_PER_MINUTE
from airflow_provider_kaizala.hooks.validation import MAX_PAGE_SIZE
from airflow_provider_kaizala.transfers.kaizala_to_sql import PAGE_SIZE, PREFETCH_PAGES

PAGE = Path(__file__).resolve().parents[2] / "docs" / "sizing.rst"
SIZES = (1_000, 10_000, 100_000, 1_000_000)
MARGIN = 1.5


def text() -> str:
    return " ".join(PAGE.read_text().split())  # sentences wrap across lines


def per_minute(share: float) -> float:
    """Calls a minute a walk gets when bulk walks may use ``share`` of the budget."""
    return DEFAULT_RATE_LIMIT_PER_MINUTE * share


GUARANTEED = per_minute(DEFAULT_BULK_SHARE)
IDLE = per_minute(1 - IDLE_RESERVE)


def duration(minutes: float) -> str:
    seconds = round(minutes * 60)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        m, s = divmod(seconds, 60)
        return f"{m} min {s} s" if s else f"{m} min"
    h, m = divmod(round(seconds / 60), 60)
    return f"{h} h {m} min" if m else f"{h} h"


def n(value: float) -> str:
    return f"{value:,.0f}"


def table() -> list[list[str]]:
    source = PAGE.read_text()
    block = source[source.index(".. csv-table:: Time of one walk") :].split("\n\n")[1]
    return [
        row for row in csv.reader((line.strip() for line in block.splitlines() if line.strip()), skipinitialspace=True)
    ]


def test_the_walk_time_table_follows_from_the_constants():
    assert PAGE_SIZE == MAX_PAGE_SIZE
    expected = []
    for size in SIZES:
        pages = math.ceil(size / MAX_PAGE_SIZE)
        expected.append(
            [
                n(size),
                n(pages),
                duration(pages / GUARANTEED),
                duration(pages / IDLE),
                duration(math.ceil(MARGIN * pages / GUARANTEED)),
            ]
        )
    assert table() == expected


def test_the_rates_and_limits_in_the_text_follow_from_the_constants():
    page = text()
    for phrase in (
        f"**{DEFAULT_RATE_LIMIT_PER_MINUTE} calls a minute** per connector",
        f"**{MAX_PAGE_SIZE} subscribers a page**",
        f"``bulk_share`` **{DEFAULT_BULK_SHARE}**",
        f"{n(GUARANTEED)} calls a minute, i.e. {n(GUARANTEED * MAX_PAGE_SIZE)} subscribers a minute",
        f"{n(IDLE)} calls a minute, i.e. {n(IDLE * MAX_PAGE_SIZE)} subscribers a minute",
        f"below {IDLE_RESERVE:.0%} of the budget".replace("%", " %"),
        f"With sends ({n(GUARANTEED * MAX_PAGE_SIZE)} a minute)",
        f"No interactive traffic ({n(IDLE * MAX_PAGE_SIZE)} a minute)",
        f"The first {n(DEFAULT_RATE_LIMIT_PER_MINUTE * BULK_BURST)} calls of a walk",
        f"up to {n(DEFAULT_RATE_LIMIT_PER_MINUTE * BULK_BURST - 1)} pages "
        f"({n((DEFAULT_RATE_LIMIT_PER_MINUTE * BULK_BURST - 1) * MAX_PAGE_SIZE)} subscribers)",
        f"``checkpoint_pages`` + {PREFETCH_PAGES} pages",
        f"{MARGIN} times the with-sends time",
    ):
        assert phrase in page, phrase


def test_the_sensor_and_connector_figures_follow_from_the_constants():
    page = text()
    rate, idle = GUARANTEED * MAX_PAGE_SIZE, IDLE * MAX_PAGE_SIZE
    fifteen = (
        f"A 15-minute timeout fits a check of at most {n(15 * rate)} subscribers at the with-sends rate "
        f"({n(15 * idle)} when nothing else uses the connector), and {n(15 / MARGIN * rate)} with the "
        f"{MARGIN} margin"
    )
    assert fifteen in page
    pages, minutes = math.ceil(1_000_000 / MAX_PAGE_SIZE), 6 * 60
    share = pages / (GUARANTEED * minutes)
    assert f"``pages per check / ({n(GUARANTEED)} x minutes between checks)``" in page
    assert (
        f"takes {n(pages)} of the {n(GUARANTEED * minutes)} bulk calls of those 6 hours ({share:.0%})".replace(
            "%)", " %)"
        )
        in page
    )
    assert "A tenant allows 300 calls a minute, so at most three" in page


def test_a_15_minute_timeout_cannot_hold_a_check_of_75000_subscribers():
    """The issue's finding, from the same constants: the sensor example's timeout is too short above it."""
    assert 75_000 / (GUARANTEED * MAX_PAGE_SIZE) > 15


def _keyword(dag_file: str, task_id: str, name: str) -> object:
    """A constant keyword argument (``60 * 60`` is evaluated) of the task ``task_id`` in an example DAG (no import)."""
    import ast

    tree = ast.parse((PAGE.parents[1] / "example_dags" / dag_file).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            kwargs = {k.arg: k.value for k in node.keywords if k.arg}
            found = kwargs.get("task_id")
            if isinstance(found, ast.Constant) and found.value == task_id:
                expression = ast.Expression(kwargs[name])
                return eval(compile(expression, dag_file, "eval"), {"__builtins__": {}})  # constants only
    raise AssertionError(f"no task {task_id} in {dag_file}")


def test_the_sensor_example_timeout_holds_a_check_of_160000_subscribers_with_the_margin():
    timeout = _keyword("example_kaizala_new_subscribers.py", "wait_for_new_subscribers", "timeout")
    walk_minutes = 160_000 / (GUARANTEED * MAX_PAGE_SIZE)
    assert isinstance(timeout, int)
    assert timeout >= walk_minutes * MARGIN * 60


def test_the_etl_example_load_has_retries_so_a_walk_can_resume():
    retries = _keyword("example_kaizala_membership_etl.py", "load_membership", "retries")
    assert isinstance(retries, int)
    assert retries >= 1
