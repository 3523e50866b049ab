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
from airflow_provider_kaizala.emulator.demo import DEFAULT_SUBSCRIBERS, seed
from airflow_provider_kaizala.emulator.faults import FaultConfig
from airflow_provider_kaizala.emulator.server import bind_socket, uvicorn_config


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    d = FaultConfig()
    p = argparse.ArgumentParser(prog="kaizala-emulator", description="Local emulator of the Kaizala connector API.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="primary endpoint port (0 = a free port)")
    p.add_argument("--alt-port", type=int, default=0, help="alternate endpoint port (0 = a free port)")
    p.add_argument("--seed", choices=("demo", "none"), default="none")
    p.add_argument("--demo-subscribers", type=int, default=DEFAULT_SUBSCRIBERS)
    p.add_argument("--access-token-lifetime", type=float, default=d.access_token_lifetime, metavar="S")
    p.add_argument("--throttle-limit", type=int, default=d.throttle_limit, metavar="N")
    p.add_argument("--throttle-window", type=float, default=d.throttle_window, metavar="S")
    p.add_argument("--tenant-throttle-limit", type=int, default=d.tenant_throttle_limit, metavar="N")
    p.add_argument(
        "--throttle-auth",
        choices=("true", "false"),
        default=str(d.throttle_auth).lower(),
        help="count /v1/accessToken calls in the throttle windows",
    )
    p.add_argument("--error-rate", type=float, default=d.error_rate, metavar="F")
    p.add_argument(
        "--error-statuses",
        default=",".join(map(str, d.error_statuses)),
        metavar="LIST",
        help="comma-separated 5xx statuses to inject",
    )
    p.add_argument("--drop-rate", type=float, default=d.drop_rate, metavar="F")
    p.add_argument("--drop-phase", choices=("before", "after"), default=d.drop_phase)
    p.add_argument("--slow-rate", type=float, default=d.slow_rate, metavar="F")
    p.add_argument("--slow-seconds", type=float, default=d.slow_seconds, metavar="F")
    p.add_argument("--slow-phase", choices=("before", "after"), default=d.slow_phase)
    p.add_argument("--relocate-after", type=int, default=d.relocate_after, metavar="N")
    p.add_argument("--token-expire-every", type=int, default=d.token_expire_every, metavar="N")
    p.add_argument("--fault-paths", default=None, metavar="REGEX")
    p.add_argument("--fault-seed", type=int, default=d.fault_seed, metavar="N")
    p.add_argument("--media-max-bytes", type=int, default=d.media_max_bytes, metavar="N")
    p.add_argument("--webhook-validation-timeout", type=float, default=d.webhook_validation_timeout, metavar="S")
    p.add_argument("--webhook-delivery-timeout", type=float, default=d.webhook_delivery_timeout, metavar="S")
    p.add_argument("--webhook-retries", type=int, default=d.webhook_retries, metavar="N")
    p.add_argument("--webhook-retry-base", type=float, default=d.webhook_retry_base, metavar="S")
    p.add_argument("--webhook-duplicate-rate", type=float, default=d.webhook_duplicate_rate, metavar="F")
    p.add_argument("--ready-file", type=Path, default=None, metavar="PATH")
    p.add_argument("--log-level", default="warning")
    return p.parse_args(argv)


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
        }
    )
    app = EmulatorApp(config)
    s1, s2 = bind_socket(args.host, args.port), bind_socket(args.host, args.alt_port)
    app.set_endpoints((args.host, s1.getsockname()[1]), (args.host, s2.getsockname()[1]))
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
