"""``gmail-emulator``: run a local Gmail API v1 server with seeded mailboxes."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time

from .backend import Emulator, EmulatorConfig, domain_list
from .faults import (
    FAULT_HELP,
    FAULT_KINDS,
    TOKEN_DEFAULT_KINDS,
    TOKEN_FAULT_HELP,
    TOKEN_FAULT_KINDS,
    TOKEN_GRANTS,
)
from .routes import ROUTES
from .server import EmulatorServer


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gmail-emulator",
        description="A faithful local Gmail API v1 server: routes, errors, quota, history, batch.",
    )
    p.add_argument("--host", default="127.0.0.1", help="listen address (loopback by default)")
    p.add_argument("--port", type=int, default=8765, help="listen port (0 picks a free one)")
    p.add_argument(
        "--users",
        type=_csv,
        default=["alice@example.com"],
        help="comma-separated mailboxes, e.g. alice@example.com,bob@example.com",
    )
    p.add_argument("--messages", type=int, default=0, help="synthetic messages per user")
    p.add_argument("--seed", type=int, default=1, help="seed for mailboxes, ids and faults")
    p.add_argument("--mbox", help="load an mbox file (e.g. Google Takeout) into the first user")
    p.add_argument("--latency-ms", type=float, default=0.0, help="added latency per response")
    p.add_argument(
        "--quota-units-per-second",
        type=float,
        default=250.0,
        help="per-user quota units per second (0 disables)",
    )
    p.add_argument(
        "--quota-window-s",
        type=float,
        default=1.0,
        help="span of the moving window the per-second quota is averaged over",
    )
    p.add_argument(
        "--max-concurrent",
        type=int,
        default=20,
        help="concurrent requests per user before 429 (0 disables)",
    )
    p.add_argument("--fault-rate", type=float, default=0.0, help="share of calls that fail")
    p.add_argument(
        "--fault-kinds",
        type=_csv,
        default=["429", "403", "500", "503"],
        help="comma-separated subset of: "
        + "; ".join(f"{kind} = {what}" for kind, what in FAULT_HELP.items()),
    )
    p.add_argument(
        "--fault-methods",
        type=_csv,
        default=[],
        help="limit faults to these methods, e.g. messages.get,history.list; "
        "'batch' is the outer request of a batch (its parts match their own methods)",
    )
    p.add_argument(
        "--fault-seed",
        type=int,
        default=None,
        help="fault RNG seed, for API and token faults (default: --seed)",
    )
    p.add_argument(
        "--fault-slow-ms", type=float, default=2000.0, help="extra delay of a 'slow' fault, ms"
    )
    p.add_argument(
        "--fault-stall-ms",
        type=float,
        default=30000.0,
        help="how long a 'stall' fault holds an answer back, ms",
    )
    p.add_argument("--token-ttl", type=float, default=3600.0, help="access-token lifetime, s")
    p.add_argument(
        "--token-fault-rate",
        type=float,
        default=0.0,
        help="share of OAuth token requests (POST /token) that fail",
    )
    p.add_argument(
        "--token-fault-kinds",
        type=_csv,
        default=list(TOKEN_DEFAULT_KINDS),
        help="comma-separated subset of: "
        + "; ".join(f"{kind} = {what}" for kind, what in TOKEN_FAULT_HELP.items()),
    )
    p.add_argument(
        "--token-fault-grants",
        type=_csv,
        default=[],
        help="limit token faults to these grants: " + ", ".join(TOKEN_GRANTS.values()),
    )
    p.add_argument(
        "--history-retention",
        type=int,
        default=0,
        help="history records kept per user (0 keeps all); older ids get 404",
    )
    p.add_argument(
        "--auth-config",
        help="JSON: clients, refresh_tokens, service_accounts "
        "(any client listed switches to strict credential checking)",
    )
    p.add_argument(
        "--refuse-recipient-domains",
        type=_csv,
        default=[],
        help="test control: sends to these domains get Gmail's 400 'Invalid To header', "
        "e.g. refused.example,bounce.test",
    )
    p.add_argument(
        "--push-endpoint",
        help="post Pub/Sub push envelopes for watched mailboxes here (e.g. gmail-push serve's URL)",
    )
    p.add_argument(
        "--push-audience", help="the `aud` of the signed push token (default: the endpoint)"
    )
    p.add_argument(
        "--push-service-account",
        default=EmulatorConfig.push_service_account,
        help="the `email` of the signed push token (the subscription's service account)",
    )
    p.add_argument(
        "--push-subscription",
        default=EmulatorConfig.push_subscription,
        help="the `subscription` of each push envelope",
    )
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return p


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    kinds = [kind for kind in args.fault_kinds if kind not in FAULT_KINDS]
    if kinds:
        raise SystemExit(
            f"gmail-emulator: --fault-kinds: unknown kind(s) {kinds}; "
            f"choose from {', '.join(FAULT_KINDS)}"
        )
    if not 0.0 <= args.fault_rate <= 1.0:
        raise SystemExit("gmail-emulator: --fault-rate must be between 0 and 1")
    kinds = [kind for kind in args.token_fault_kinds if kind not in TOKEN_FAULT_KINDS]
    if kinds or not args.token_fault_kinds:
        raise SystemExit(
            f"gmail-emulator: --token-fault-kinds: unknown kind(s) {kinds}; "
            f"choose from {', '.join(TOKEN_FAULT_KINDS)}"
        )
    if not 0.0 <= args.token_fault_rate <= 1.0:
        raise SystemExit("gmail-emulator: --token-fault-rate must be between 0 and 1")
    if not args.users:
        raise SystemExit("gmail-emulator: --users needs at least one address")
    return EmulatorConfig(
        users=args.users,
        messages=args.messages,
        seed=args.seed,
        mbox=args.mbox,
        latency_ms=args.latency_ms,
        quota_units_per_second=args.quota_units_per_second,
        quota_window_s=args.quota_window_s,
        max_concurrent_per_user=args.max_concurrent,
        fault_rate=args.fault_rate,
        fault_kinds=tuple(args.fault_kinds),
        fault_methods=tuple(args.fault_methods),
        fault_seed=args.fault_seed,
        fault_slow_ms=args.fault_slow_ms,
        fault_stall_ms=args.fault_stall_ms,
        token_ttl=args.token_ttl,
        token_fault_rate=args.token_fault_rate,
        token_fault_kinds=tuple(args.token_fault_kinds),
        token_fault_grants=tuple(args.token_fault_grants),
        history_retention=args.history_retention,
        auth_config=args.auth_config,
        push_endpoint=args.push_endpoint,
        push_audience=args.push_audience,
        push_service_account=args.push_service_account,
        push_subscription=args.push_subscription,
        refuse_recipient_domains=domain_list(args.refuse_recipient_domains),
    )


def describe(server: EmulatorServer, seconds: float) -> str:
    emulator = server.emulator
    lines = [
        f"gmail-emulator listening on {server.url} (started in {seconds:.2f} s)",
        f"  API root:   {server.url}/gmail/v1/   batch: {server.url}/batch/gmail/v1",
        f"  token_url:  {server.token_url}  (demo mode: any client/refresh token)"
        if not emulator.auth.strict
        else f"  token_url:  {server.token_url}  (strict credentials)",
        f"  stats:      {server.url}/_emulator/stats",
        f"  push certs: {server.url}/oauth2/v1/certs (PEM)  {server.url}/oauth2/v3/certs (JWKS)"
        + (f"; pushes to {emulator.config.push_endpoint}" if emulator.config.push_endpoint else ""),
    ]
    for mailbox in emulator.mailboxes.values():
        lines.append(
            f"  mailbox {mailbox.email}: {len(mailbox.messages)} messages, "
            f"{len(mailbox.threads)} threads, {len(mailbox.labels.labels)} labels, "
            f"historyId {mailbox.history.current}"
        )
    lines.append(
        f"  {len(ROUTES)} Gmail v1 methods served; quota "
        f"{emulator.config.quota_units_per_second:g} units/s per user"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    started = time.perf_counter()
    try:
        emulator = Emulator(config)
        emulator.seed()
        server = EmulatorServer(emulator, host=args.host, port=args.port, verbose=args.verbose)
    except OSError as problem:
        print(f"gmail-emulator: cannot start: {problem}", file=sys.stderr)
        return 2
    print(describe(server, time.perf_counter() - started), flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
