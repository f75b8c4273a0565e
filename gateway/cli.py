"""``storygate``: serve, worker, cluster, migrate, accounts, keys, openapi.

Operators and scripts parse this output, so the forms are fixed: `accounts create` prints the
account id, `keys create` prints the raw key alone on its last line, and every failure is one
line on stderr (``storygate: error: …``) with exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from gateway.core.errors import CoreError
from gateway.core.plans import DEMO_PLANS, FAMILIES
from gateway.settings import Settings, SettingsError, load_settings


def _fail(message: str) -> int:
    print(f"storygate: error: {message}", file=sys.stderr)
    return 2


def _run_core(settings: Settings, action: Callable[[Any], Awaitable[int]]) -> int:
    from gateway.runtime import open_runtime

    async def main() -> int:
        async with open_runtime(settings, role="cli") as rt:
            return await action(rt)

    return asyncio.run(main())


# --- serve / worker / migrate ---------------------------------------------------------------


async def ensure_demo_account(rt: Any) -> list[str]:
    """On the first embedded start, one demo account on each family's top plan and one key per
    family; returns the lines to print (empty when accounts already exist)."""
    if await rt.accounts.list():
        return []
    account = await rt.accounts.create("demo", DEMO_PLANS)
    await rt.ledger.grant(account.id, "storynote.credits", 100_000, note="demo")
    await rt.ledger.grant(account.id, "sleeperhit.credits", 100_000, note="demo")
    lines = [f"demo account {account.id} created; these keys are shown once:"]
    for family in FAMILIES:
        issued = await rt.keys.create(account.id, family, label="demo", scopes=_all_scopes(family))
        lines.append(f"  {family:<14} {issued.raw}")
    return lines


def _all_scopes(family: str) -> list[str]:
    """Every scope the family knows (the demo key may do anything)."""
    from gateway.core.keys import SCOPES  # the CLI loads the core only when it runs

    return list(SCOPES.get(family, ()))


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.settings import export_env
    from workers.backends.registry import build_backends, probe_backends

    build_backends(settings)  # a backend that cannot be built stops start-up with one line
    probe_backends(settings)  # a model library this CPU cannot run stops it too
    if not settings.distributed and settings.demo:

        async def demo(rt: Any) -> int:
            for line in await ensure_demo_account(rt):
                print(line, flush=True)
            return 0

        _run_core(settings, demo)
    export_env(settings)
    print(
        f"storygate listening on http://{settings.host}:{settings.port} "
        f"({settings.server}, {settings.workers} worker{'s' if settings.workers > 1 else ''})",
        flush=True,
    )
    sys.stdout.flush()
    sys.stderr.flush()
    # The start-up work above imported most of storygate; the server starts afresh without it.
    os.execv(sys.executable, [sys.executable, "-m", "gateway.serve"])  # noqa: S606 (no shell)


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.redis_url:
        return _fail("storygate worker needs STORYGATE_REDIS_URL (and STORYGATE_DATABASE_URL)")
    from gateway.worker import run_worker
    from workers.backends.registry import probe_backends

    probe_backends(settings)

    run_worker(settings, burst=args.burst)
    return 0


def cmd_cluster(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.cluster import ClusterOptions, run_cluster

    options = ClusterOptions(
        gateways=args.gateways,
        workers=args.worker_processes,
        host=settings.host,
        port=args.port or 8001,
        balancer=args.balancer,
        grace_seconds=args.grace,
    )
    return run_cluster(settings, options)


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.db.engine import Database
    from gateway.db.migrate import head_revision, upgrade

    async def main() -> int:
        if settings.effective_database_url.startswith("sqlite"):
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.effective_database_url)
        try:
            await upgrade(db.writer)
        finally:
            await db.close()
        print(f"database at revision {head_revision()}")
        return 0

    return asyncio.run(main())


# --- accounts / keys ------------------------------------------------------------------------


def _parse_plans(pairs: Sequence[str]) -> dict[str, str]:
    plans: dict[str, str] = {}
    for pair in pairs:
        family, sep, plan = pair.partition("=")
        if not sep or not family or not plan:
            raise CoreError(f"--plan expects FAMILY=PLAN, got {pair!r}")
        plans[family.strip()] = plan.strip()
    return plans


def cmd_accounts(settings: Settings, args: argparse.Namespace) -> int:
    async def action(rt: Any) -> int:
        if args.action == "create":
            account = await rt.accounts.create(args.name, _parse_plans(args.plan or []))
            print(account.id)
        elif args.action == "list":
            for account in await rt.accounts.list():
                plans = " ".join(f"{f}={p}" for f, p in sorted(account.plans.items()))
                print(f"{account.id}\t{account.name}\t{plans}")
        elif args.action == "set-plan":
            account = await rt.accounts.set_plan(args.account, args.family, args.plan)
            print(f"{account.id} {args.family}={account.plans[args.family]}")
        elif args.action == "set-rate":
            standing = await rt.accounts.set_rate(args.account, args.family, _rate(args.per_minute))
            shown = "plan default" if standing.per_minute is None else standing.per_minute
            shown = "unlimited" if standing.per_minute == 0 else shown
            print(f"{args.account} {args.family} per_minute={shown}")
        elif args.action == "allocate":
            monthly = None if args.amount == "unlimited" else _whole(args.amount)
            balance = await rt.accounts.allocate(args.account, args.wallet, monthly)
            shown = "unlimited" if monthly is None else monthly
            print(f"{args.account} {args.wallet} monthly={shown} spendable={_units(balance)}")
        elif args.action in ("disable", "enable"):
            await rt.accounts.set_disabled(args.account, args.action == "disable")
            print(f"{args.account} {args.action}d")
        elif args.action == "grant":
            await rt.accounts.get(args.account)
            balance = await rt.ledger.grant(
                args.account, args.wallet, args.amount, note="cli grant"
            )
            print(f"{args.account} {args.wallet} spendable={_units(balance)}")
        return 0

    return _run_core(settings, action)


def _units(balance: Any) -> str:
    return "unlimited" if balance.spendable is None else str(balance.spendable)


def _whole(text: str) -> int:
    if not text.isdigit():
        raise CoreError(f"expected a whole number, got {text!r}")
    return int(text)


def _rate(text: str) -> int | None:
    if text == "default":
        return None
    if not text.isdigit():
        raise CoreError(f"per-minute limit must be a whole number or 'default', got {text!r}")
    return int(text)


def cmd_keys(settings: Settings, args: argparse.Namespace) -> int:
    async def action(rt: Any) -> int:
        if args.action == "create":
            scopes = [s.strip() for s in (args.scopes or "").split(",") if s.strip()] or None
            allow = [a.strip() for a in (args.allow_ip or "").split(",") if a.strip()]
            issued = await rt.keys.create(
                args.account,
                args.family,
                label=args.label or "",
                scopes=scopes,
                ip_allowlist=allow,
                elevated=args.elevated,
            )
            print(f"key {issued.info.id} ({issued.info.family}, prefix {issued.info.prefix})")
            print(issued.raw)
        elif args.action == "list":
            for key in await rt.keys.list(args.account):
                state = "revoked" if key.revoked_at else "active"
                shown = ",".join(key.scopes)
                print(f"{key.id}\t{key.family}\t{key.prefix}\t{state}\t{key.label}\t{shown}")
        elif args.action == "revoke":
            key = await rt.keys.revoke(args.key_id)
            print(f"{key.id} revoked")
        return 0

    return _run_core(settings, action)


# --- openapi --------------------------------------------------------------------------------


def cmd_openapi(settings: Settings, args: argparse.Namespace) -> int:
    """Write one OpenAPI 3.1 document per family that has routes (``openapi/<family>.json``)."""
    import json
    from pathlib import Path

    from gateway.app import create_app, family_openapi

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for family, document in family_openapi(create_app(settings)).items():
        path = out / f"{family}.json"
        path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="storygate", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--data-dir")
    serve.add_argument("--backends", choices=["instant", "local", "hosted"])
    serve.add_argument("--server", choices=["granian", "uvicorn"])
    serve.add_argument("--workers", type=int, help="server processes (distributed mode only)")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run jobs from Redis (distributed mode)")
    worker.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    worker.set_defaults(func=cmd_worker)

    cluster = sub.add_parser(
        "cluster", help="gateways and workers on PostgreSQL and Redis, on this machine"
    )
    cluster.add_argument("--gateways", type=int, default=2, help="storygate serve replicas")
    cluster.add_argument(
        "--workers", type=int, default=2, dest="worker_processes", help="storygate worker processes"
    )
    cluster.add_argument("--host")
    cluster.add_argument("--port", type=int, help="first gateway's port (default 8001)")
    cluster.add_argument("--data-dir")
    cluster.add_argument("--backends", choices=["instant", "local", "hosted"])
    cluster.add_argument(
        "--balancer", type=int, metavar="PORT", help="a round-robin proxy over the gateways here"
    )
    cluster.add_argument(
        "--grace", type=float, default=10.0, help="seconds between SIGTERM and SIGKILL at stop"
    )
    cluster.set_defaults(func=cmd_cluster)

    migrate = sub.add_parser("migrate", help="bring the database schema up to date")
    migrate.set_defaults(func=cmd_migrate)

    accounts = sub.add_parser("accounts", help="manage accounts").add_subparsers(
        dest="action", required=True
    )
    create = accounts.add_parser("create")
    create.add_argument("name")
    create.add_argument("--plan", action="append", metavar="FAMILY=PLAN")
    accounts.add_parser("list")
    set_plan = accounts.add_parser("set-plan")
    set_plan.add_argument("account")
    set_plan.add_argument("family", choices=FAMILIES)
    set_plan.add_argument("plan")
    set_rate = accounts.add_parser(
        "set-rate", help="requests a minute for one account in one family (0: no limit)"
    )
    set_rate.add_argument("account")
    set_rate.add_argument("family", choices=FAMILIES)
    set_rate.add_argument("per_minute", help="N, 0 for no per-minute limit, or 'default'")
    allocate = accounts.add_parser(
        "allocate", help="set one account's monthly allowance on one wallet (a custom deal)"
    )
    allocate.add_argument("account")
    allocate.add_argument("wallet", help="unit, e.g. storynote.credits")
    allocate.add_argument("amount", help="credits a month, or 'unlimited'")
    for verb in ("disable", "enable"):
        accounts.add_parser(verb, help=f"{verb} every key of the account").add_argument("account")
    grant = accounts.add_parser("grant")
    grant.add_argument("account")
    grant.add_argument("wallet", help="unit, e.g. storynote.credits")
    grant.add_argument("amount", type=int)
    sub.choices["accounts"].set_defaults(func=cmd_accounts)

    keys = sub.add_parser("keys", help="manage API keys").add_subparsers(
        dest="action", required=True
    )
    kcreate = keys.add_parser("create")
    kcreate.add_argument("account")
    kcreate.add_argument("family", choices=FAMILIES)
    kcreate.add_argument("--label")
    kcreate.add_argument(
        "--scopes", help="comma-separated (SleeperHit default: story:read,credits:read)"
    )
    kcreate.add_argument("--allow-ip", help="comma-separated addresses or CIDRs the key works from")
    kcreate.add_argument(
        "--elevated", action="store_true", help="the higher request rate (SleeperHit: 600/min)"
    )
    klist = keys.add_parser("list")
    klist.add_argument("account")
    krevoke = keys.add_parser("revoke")
    krevoke.add_argument("key_id")
    sub.choices["keys"].set_defaults(func=cmd_keys)

    openapi = sub.add_parser("openapi", help="write the OpenAPI document of each family")
    openapi.add_argument("--out", default="openapi", help="directory (default: ./openapi)")
    openapi.set_defaults(func=cmd_openapi)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        overrides: dict[str, Any] = {
            "host": getattr(args, "host", None),
            "port": getattr(args, "port", None),
            "data_dir": getattr(args, "data_dir", None),
            "backends": getattr(args, "backends", None),
            "server": getattr(args, "server", None),
            "workers": getattr(args, "workers", None),
        }
        if overrides["data_dir"] is not None:
            from pathlib import Path

            overrides["data_dir"] = Path(overrides["data_dir"])
        settings = load_settings(**overrides)
        return int(args.func(settings, args))
    except SettingsError as exc:
        return _fail(str(exc))
    except CoreError as exc:
        return _fail(exc.message)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        return _fail(f"{type(exc).__name__}: {exc}")


if __name__ == "__main__":
    sys.exit(main())
