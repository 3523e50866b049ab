"""``kaizala-emulator`` / ``python -m airflow_provider_kaizala.emulator``: run the emulator from the command line."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path

import uvicorn

from airflow_provider_kaizala.emulator.app import EmulatorApp
from airflow_provider_kaizala.emulator.credentials import CredentialStore, StateFileError
from airflow_provider_kaizala.emulator.demo import DEFAULT_SUBSCRIBERS, seed
from airflow_provider_kaizala.emulator.faults import FaultConfig
from airflow_provider_kaizala.emulator.server import bind_socket, uvicorn_config


def _bool(text: str) -> bool:
    if text.lower() not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return text.lower() == "true"


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
    d = FaultConfig()
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
    data.add_argument(
        "--extensions",
        type=_bool,
        default=d.extensions,
        metavar="true|false",
        help="add undocumented convenience fields to answers (sentAtMs and actionId in action lists, ...)",
    )
    tokens = p.add_argument_group("tokens and throttling")
    tokens.add_argument(
        "--access-token-lifetime",
        type=float,
        default=d.access_token_lifetime,
        metavar="S",
        help="access token lifetime, seconds",
    )
    tokens.add_argument(
        "--token-expire-every",
        type=int,
        default=d.token_expire_every,
        metavar="N",
        help="expire a connector's access tokens after every N of its API calls (0 = never)",
    )
    tokens.add_argument(
        "--cursor-lifetime",
        type=float,
        default=d.cursor_lifetime,
        metavar="S",
        help="seconds a subscriber-list cursor stays valid on the emulator clock; older ones get 400 "
        "'Cursor expired' (0 = cursors never expire)",
    )
    tokens.add_argument(
        "--throttle-limit",
        type=int,
        default=d.throttle_limit,
        metavar="N",
        help="calls per window per connector (0 = off)",
    )
    tokens.add_argument(
        "--throttle-window", type=float, default=d.throttle_window, metavar="S", help="sliding throttle window, seconds"
    )
    tokens.add_argument(
        "--tenant-throttle-limit",
        type=int,
        default=d.tenant_throttle_limit,
        metavar="N",
        help="calls per window per tenant, all connectors together (0 = off)",
    )
    tokens.add_argument(
        "--throttle-auth",
        choices=("true", "false"),
        default=str(d.throttle_auth).lower(),
        help="count /v1/accessToken calls in the throttle windows",
    )
    faults = p.add_argument_group("injected faults (API calls only, never /_emulator)")
    faults.add_argument(
        "--error-rate", type=float, default=d.error_rate, metavar="F", help="probability (0-1) of an injected 5xx"
    )
    faults.add_argument(
        "--error-statuses",
        default=",".join(map(str, d.error_statuses)),
        metavar="LIST",
        help="comma-separated 5xx statuses to inject",
    )
    faults.add_argument(
        "--drop-rate",
        type=float,
        default=d.drop_rate,
        metavar="F",
        help="probability (0-1) that the TCP connection is reset without an answer",
    )
    faults.add_argument(
        "--drop-phase",
        choices=("before", "after"),
        default=d.drop_phase,
        help="drop before the call is processed, or after (the change is made, the answer lost)",
    )
    faults.add_argument(
        "--slow-rate", type=float, default=d.slow_rate, metavar="F", help="probability (0-1) that a call is delayed"
    )
    faults.add_argument(
        "--slow-seconds", type=float, default=d.slow_seconds, metavar="S", help="delay of a slow call, seconds"
    )
    faults.add_argument(
        "--slow-phase",
        choices=("before", "after"),
        default=d.slow_phase,
        help="delay before processing the call, or after processing it (before answering)",
    )
    faults.add_argument(
        "--relocate-after",
        type=int,
        default=d.relocate_after,
        metavar="N",
        help="move a connector to the other endpoint (308) after every N of its API calls (0 = never)",
    )
    faults.add_argument(
        "--fault-paths",
        default=None,
        metavar="REGEX",
        help="only paths matching this regular expression get error/drop/slow faults (default: all)",
    )
    faults.add_argument(
        "--fault-seed",
        type=int,
        default=d.fault_seed,
        metavar="N",
        help="seed of the fault dice (runs are reproducible)",
    )
    faults.add_argument(
        "--media-max-bytes",
        type=int,
        default=d.media_max_bytes,
        metavar="N",
        help="largest POST /v1/media body; bigger ones get 413",
    )
    hooks = p.add_argument_group("webhook delivery")
    hooks.add_argument(
        "--webhook-validation-timeout",
        type=float,
        default=d.webhook_validation_timeout,
        metavar="S",
        help="seconds a callback has to echo the validationToken at registration",
    )
    hooks.add_argument(
        "--webhook-delivery-timeout",
        type=float,
        default=d.webhook_delivery_timeout,
        metavar="S",
        help="seconds per delivery attempt",
    )
    hooks.add_argument(
        "--webhook-retries",
        type=int,
        default=d.webhook_retries,
        metavar="N",
        help="retries after a failed delivery; then the webhook is disabled (active: false)",
    )
    hooks.add_argument(
        "--webhook-retry-base",
        type=float,
        default=d.webhook_retry_base,
        metavar="S",
        help="first retry delay in seconds, doubled at each retry",
    )
    hooks.add_argument(
        "--webhook-duplicate-rate",
        type=float,
        default=d.webhook_duplicate_rate,
        metavar="F",
        help="probability (0-1) that a delivered event is delivered once more (same eventId)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    config = FaultConfig()
    config.merge(
        {
            "access_token_lifetime": args.access_token_lifetime,
            "throttle_limit": args.throttle_limit,
            "throttle_window": args.throttle_window,
            "tenant_throttle_limit": args.tenant_throttle_limit,
            "throttle_auth": args.throttle_auth == "true",
            "error_rate": args.error_rate,
            "error_statuses": [int(x) for x in args.error_statuses.split(",") if x.strip()],
            "drop_rate": args.drop_rate,
            "drop_phase": args.drop_phase,
            "slow_rate": args.slow_rate,
            "slow_seconds": args.slow_seconds,
            "slow_phase": args.slow_phase,
            "relocate_after": args.relocate_after,
            "token_expire_every": args.token_expire_every,
            "fault_paths": args.fault_paths,
            "fault_seed": args.fault_seed,
            "media_max_bytes": args.media_max_bytes,
            "webhook_validation_timeout": args.webhook_validation_timeout,
            "webhook_delivery_timeout": args.webhook_delivery_timeout,
            "webhook_retries": args.webhook_retries,
            "webhook_retry_base": args.webhook_retry_base,
            "webhook_duplicate_rate": args.webhook_duplicate_rate,
            "extensions": args.extensions,
            "cursor_lifetime": args.cursor_lifetime,
        }
    )
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
    if args.seed == "demo":
        demo = seed(app, args.demo_subscribers)
        ready["conn"] = demo["conn"]
        ready["demo"] = demo
    line = json.dumps(ready)
    if args.ready_file is not None:
        args.ready_file.write_text(line + "\n")
    print(line, flush=True)
    if "conn" in ready:  # for people, after the machine-readable first line: how to reach the demo tenant
        print(
            f"Kaizala emulator on {ready['url']} (alternate endpoint {ready['alt_url']}). Reach the demo tenant "
            f"with:\n  export AIRFLOW_CONN_KAIZALA_DEFAULT='{json.dumps(ready['conn'])}'",
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
