"""``gmail-push``: keep Gmail watches alive (watch, stop, status) and receive pushes (serve).

Exit codes: 0 all well; 1 a mailbox failed (the others were still done); 2 a config mistake
(the message names the setting and how to fix it). No tracebacks for either.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from gmail_core.errors import ConfigError, GmailConnectorError

from . import serve as serving
from . import watch as watching
from .settings import DEFAULT_STATE_PATH, WatchSettings, load_config, parse_duration


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gmail-push",
        description="Gmail push notifications for tap-gmail: renew watches, receive pushes, "
        "trigger syncs. The config file holds tap-gmail's settings plus the push ones.",
    )
    parser.add_argument(
        "--config",
        default=os.environ.get("GMAIL_PUSH_CONFIG"),
        help="JSON config file (default: $GMAIL_PUSH_CONFIG)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    watch = commands.add_parser("watch", help="call users.watch for every configured mailbox")
    watch.add_argument(
        "--renew-before",
        metavar="DURATION",
        help="only renew watches expiring within DURATION (e.g. 24h); safe to run from cron",
    )
    commands.add_parser("stop", help="call users.stop for every configured mailbox")
    commands.add_parser("status", help="show the recorded watches and when they expire")
    serve = commands.add_parser("serve", help="receive Pub/Sub pushes and trigger syncs")
    serve.add_argument("--host", help="listen address (default: listen_host or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default: listen_port or 8080)")
    serve.add_argument(
        "--shutdown-grace",
        default="30s",
        metavar="DURATION",
        help="how long a running sync may finish after SIGTERM (default 30s)",
    )
    return parser


def _report(outcomes) -> int:
    for outcome in outcomes:
        stream = sys.stdout if outcome.ok else sys.stderr
        print(f"{outcome.mailbox}: {outcome.action}: {outcome.detail}", file=stream)
    failed = [o.mailbox for o in outcomes if not o.ok]
    if failed:
        print(f"gmail-push: failed for {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _status(config: dict) -> int:
    path = config.get("watch_state_path") or DEFAULT_STATE_PATH
    state = watching.WatchState(Path(path).expanduser())
    state.warn()
    if not state.watches:
        print(f"no watches recorded in {path}")
        return 0
    now_ms = int(time.time() * 1000)
    for entry in state.watches.values():
        left_h = (entry["expiration_ms"] - now_ms) / 3_600_000
        print(json.dumps({**entry, "hours_left": round(left_h, 1)}, sort_keys=True))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config)
        if args.command == "watch":
            settings = WatchSettings.from_config(config)
            renew = (
                parse_duration(args.renew_before, "--renew-before") if args.renew_before else None
            )
            return _report(watching.watch_all(config, settings, renew))
        if args.command == "stop":
            path = config.get("watch_state_path") or DEFAULT_STATE_PATH
            return _report(watching.stop_all(config, Path(path).expanduser()))
        if args.command == "status":
            return _status(config)
        serving.configure_logging()
        grace = parse_duration(args.shutdown_grace, "--shutdown-grace")
        return serving.serve(config, args.host, args.port, grace)
    except ConfigError as problem:
        print(f"gmail-push: configuration error: {problem}", file=sys.stderr)
        return 2
    except GmailConnectorError as problem:
        print(f"gmail-push: {problem}", file=sys.stderr)
        return 1
    except OSError as problem:  # e.g. the listen port is taken
        print(f"gmail-push: {problem.strerror or problem}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
