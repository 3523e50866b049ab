"""The ``kaizala-emulator`` command line: help for every flag, and ``--state-file`` keeping credentials."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import requests

from airflow_provider_kaizala.emulator.__main__ import build_parser, main
from airflow_provider_kaizala.emulator.credentials import StateFileError
from airflow_provider_kaizala.emulator.faults import FaultConfig
from airflow_provider_kaizala.emulator.server import KaizalaEmulator
from tests.emulator.conftest import ADMIN, assert_error, get_token


def test_every_flag_has_help_text():
    parser = build_parser()
    flags = [a for a in parser._actions if a.option_strings and a.dest != "help"]
    assert len(flags) >= 31
    missing = [a.option_strings[0] for a in flags if not (a.help or "").strip()]
    assert missing == []
    text = parser.format_help()
    for action in flags:
        assert action.option_strings[0] in text


def test_every_fault_switch_has_a_flag():
    """The subprocess harness passes every FaultConfig key as ``--<key>``: each needs a flag."""
    dests = {a.dest for a in build_parser()._actions}
    assert set(FaultConfig().to_json()) <= dests


def test_state_file_keeps_credentials_across_restarts(tmp_path: Path):
    path = tmp_path / "state" / "emulator.json"
    with KaizalaEmulator(seed="demo", demo_subscribers=10, state_file=path) as em:
        first = em.demo
        extra = em.admin.create_connector(name="mine", phone=ADMIN)
        rotated_app = em.admin.create_connector(name="rotated", phone="+919810000009")
        assert first is not None
        assert get_token(em.url, first["connector"]).status_code == 200
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = json.loads(path.read_text())
    assert {c["name"] for c in saved["connectors"]} == {"demo-connector", "mine", "rotated"}

    with KaizalaEmulator(seed="demo", demo_subscribers=10, state_file=path) as em:
        again = em.demo
        assert again is not None
        # the demo connection, and the ids of the demo groups, are those of the first run
        for key in ("applicationId", "applicationSecret", "refreshToken"):
            assert again["connector"][key] == first["connector"][key]
        assert again["groups"] == first["groups"]
        assert get_token(em.url, first["connector"]).status_code == 200
        assert get_token(em.url, extra).status_code == 200
        # new connectors never take a kept one's id
        fresh = em.admin.create_connector(name="fresh")
        assert fresh["applicationId"] not in {c["applicationId"] for c in saved["connectors"]}
        # changes are saved as they happen: a regenerated token replaces the old one, a deleted connector goes
        new_refresh = em.admin.new_refresh_token(extra["applicationId"])
        em.admin.delete_connector(rotated_app["applicationId"])
        saved = json.loads(path.read_text())
        assert {c["name"] for c in saved["connectors"]} == {"demo-connector", "mine", "fresh"}
        tokens = {t["refreshToken"] for t in saved["refreshTokens"]}
        assert new_refresh in tokens
        assert extra["refreshToken"] not in tokens

    with KaizalaEmulator(state_file=path) as em:
        assert_error(get_token(em.url, extra), 401, "Unauthenticated")
        assert get_token(em.url, extra, new_refresh).status_code == 200
        assert_error(get_token(em.url, rotated_app), 401, "Unauthenticated")
        em.admin.reset()  # the file mirrors the live credentials: a reset empties it
        assert json.loads(path.read_text())["connectors"] == []


def test_state_file_through_the_command_line(tmp_path: Path):
    path = tmp_path / "emulator.json"
    with KaizalaEmulator(subprocess=True, seed="demo", demo_subscribers=5, state_file=path) as em:
        first = em.conn
    with KaizalaEmulator(subprocess=True, seed="demo", demo_subscribers=5, state_file=path) as em:
        assert em.conn is not None
        assert first is not None
        assert em.conn["password"] == first["password"]
        assert em.conn["extra"] == first["extra"]
        resp = requests.get(
            f"{em.url}/v1/accessToken",
            headers={
                "applicationId": em.conn["login"],
                "applicationSecret": em.conn["password"],
                "refreshToken": em.conn["extra"]["refresh_token"],
            },
            timeout=30,
        )
        assert resp.status_code == 200, resp.text


def test_a_state_file_that_is_not_one_is_refused_without_leaking_it(tmp_path: Path):
    path = tmp_path / "emulator.json"
    path.write_text(json.dumps({"version": 1, "connectors": [{"applicationSecret": "s3cr3t-value"}]}))
    with pytest.raises(StateFileError) as info:
        KaizalaEmulator(state_file=path).start()
    assert "s3cr3t-value" not in str(info.value)
    assert str(path) in str(info.value)


def test_the_command_line_refuses_a_broken_state_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "emulator.json"
    path.write_text("not json, secret-looking: rt.abc")
    assert main(["--state-file", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err
    assert "rt.abc" not in err


@pytest.mark.parametrize(
    ("flag", "value", "reason"),
    [
        ("--drop-rate", "2", "between 0 and 1"),
        ("--throttle-window", "0", "seconds > 0"),
        ("--error-statuses", "404", "5xx"),
        ("--fault-paths", "(", "fault_paths"),
        ("--media-max-bytes", "-1", "> 0"),
    ],
)
def test_a_bad_switch_on_the_command_line_stops_the_start_and_says_why(
    flag: str, value: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The switches are declared once (FaultConfig); the command line is checked by the same rules as the admin API."""
    assert main([flag, value]) == 2
    err = capsys.readouterr().err
    assert flag.removeprefix("--").replace("-", "_") in err
    assert reason in err


def test_command_line_switches_reach_the_fault_config() -> None:
    args = build_parser().parse_args(["--error-statuses", "503", "--extensions", "true", "--drop-phase", "after"])
    config = FaultConfig()
    config.merge({name: getattr(args, name) for name in FaultConfig.model_fields})
    assert (config.error_statuses, config.extensions, config.drop_phase) == ([503], True, "after")
    assert config.throttle_limit == FaultConfig().throttle_limit
