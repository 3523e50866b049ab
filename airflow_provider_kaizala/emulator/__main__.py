"""``kaizala-emulator`` / ``python -m airflow_provider_kaizala.emulator``: run the emulator from the command line."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import uvicorn

from airflow_provider_kaizala.emulator.app import EmulatorApp
from airflow_provider_kaizala.emulator.credentials import CredentialStore, StateFileError
from airflow_provider_kaizala.emulator.demo import DEFAULT_SUBSCRIBERS, conn_env_line, seed
from airflow_provider_kaizala.emulator.faults import DATA, FaultConfig, FaultConfigError, flag_text
from airflow_provider_kaizala.emulator.server import bind_socket, uvicorn_config


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The parsed command line."""
    return build_parser().parse_args(argv)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Adds each flag's default to its help, except where there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    """The command line; every flag's help says what it does (argparse adds its default)."""
    defaults = FaultConfig()
    p = argparse.ArgumentParser(
        prog="kaizala-emulator",
        description=(
            "Local emulator of the Microsoft Kaizala connector REST API, on two loopback endpoints (primary and "
            "alternate, for 308 relocation). The first line printed is JSON: {url, alt_url[, conn, demo]}. "
            "Every fault switch can also be changed at run time with POST /_emulator/faults."
        ),
        formatter_class=_HelpFormatter,
    )
    server = p.add_argument_group("server")
    server.add_argument("--host", default="127.0.0.1", help="address both endpoints listen on")
    server.add_argument("--port", type=int, default=0, help="primary endpoint port (0 = a free port)")
    server.add_argument("--alt-port", type=int, default=0, help="alternate endpoint port (0 = a free port)")
    server.add_argument(
        "--ready-file", type=Path, default=None, metavar="PATH", help="also write the JSON ready line to this file"
    )
    server.add_argument(
        "--log-level",
        default="warning",
        type=str.lower,
        choices=("debug", "info", "warning", "error", "critical"),
        help="log level on stderr (debug logs every API call without secrets)",
    )
    data = p.add_argument_group("data")
    data.add_argument(
        "--seed",
        choices=("demo", "none"),
        default="none",
        help="'demo': create the demo tenant (groups, members, subscribers, a connector) and print its connection",
    )
    data.add_argument(
        "--demo-subscribers",
        type=int,
        default=DEFAULT_SUBSCRIBERS,
        metavar="N",
        help="subscribers of the demo public group",
    )
    data.add_argument(
        "--state-file",
        type=Path,
        default=None,
        metavar="PATH",
        help=(
            "keep connector credentials (ids, secrets, refresh tokens) in this JSON file across restarts: loaded at "
            "start, rewritten on every change (mode 0600, holds secrets). Use with a fixed --port so saved "
            "Airflow connections keep working"
        ),
    )
    groups = {DATA: data}
    for name, info in FaultConfig.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        group_name = str(extra.get("group", "switches"))
        group = groups.get(group_name) or groups.setdefault(group_name, p.add_argument_group(group_name))
        default = getattr(defaults, name)
        kwargs: dict[str, Any] = {"default": flag_text(default), "dest": name, "help": info.description}
        if isinstance(default, bool):
            kwargs["choices"] = ("true", "false")
        elif get_origin(info.annotation) is Literal:
            kwargs["choices"] = get_args(info.annotation)
        else:
            kwargs["metavar"] = extra.get("metavar")
        group.add_argument(f"--{name.replace('_', '-')}", **kwargs)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    config = FaultConfig()
    try:
        config.merge({name: getattr(args, name) for name in FaultConfig.model_fields})
    except FaultConfigError as exc:
        print(f"kaizala-emulator: {exc}", file=sys.stderr)
        return 2
    app = EmulatorApp(config)
    s1, s2 = bind_socket(args.host, args.port), bind_socket(args.host, args.alt_port)
    app.set_endpoints((args.host, s1.getsockname()[1]), (args.host, s2.getsockname()[1]))
    if args.state_file is not None:
        if args.port == 0:
            print(
                "kaizala-emulator: --state-file keeps the credentials, but without --port the port changes at every "
                "start, so a connection saved in Airflow will point at the old port; give --port too.",
                file=sys.stderr,
            )
        try:
            CredentialStore(args.state_file).attach(app.state, app.urls["primary"])
        except (StateFileError, OSError) as exc:
            s1.close()
            s2.close()
            print(f"kaizala-emulator: --state-file: {exc}", file=sys.stderr)
            return 2
    ready: dict[str, object] = {"url": app.urls["primary"], "alt_url": app.urls["alternate"]}
    demo = seed(app.state, app.urls["primary"], args.demo_subscribers) if args.seed == "demo" else None
    if demo is not None:
        ready["conn"] = demo["conn"]
        ready["demo"] = demo
    line = json.dumps(ready)
    if args.ready_file is not None:
        args.ready_file.write_text(line + "\n")
    print(line, flush=True)
    if demo is not None:  # for people, after the machine-readable first line: how to reach the demo tenant
        print(
            f"Kaizala emulator on {ready['url']} (alternate endpoint {ready['alt_url']}). Reach the demo tenant "
            f"with:\n  export {conn_env_line(demo['conn'])}",
            flush=True,
        )
    # uvicorn restores these handlers after shutdown and re-raises the signal it caught; no-op handlers make
    # SIGINT/SIGTERM end the process with status 0 after a clean shutdown.
    signal.signal(signal.SIGINT, lambda *_: None)
    signal.signal(signal.SIGTERM, lambda *_: None)
    uvicorn.Server(uvicorn_config(app)).run(sockets=[s1, s2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
