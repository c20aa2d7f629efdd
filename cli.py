"""The `warga` command: migrate, seed, serve, and the operators' chores."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tortoise import Tortoise

from config import get_settings, tortoise_config

log = logging.getLogger("warga")


async def _with_orm(work: Callable[[], Awaitable[Any]]) -> Any:
    await Tortoise.init(config=tortoise_config())
    try:
        return await work()
    finally:
        await Tortoise.close_connections()


async def migrate() -> None:
    from tortoise.migrations.api import migrate as run_migrations

    await run_migrations(config=tortoise_config())
    await Tortoise.close_connections()


def cmd_migrate(args: argparse.Namespace) -> None:
    asyncio.run(migrate())
    print("migrations applied")


async def _seed(demo: bool, geojson: str | None) -> None:
    from domain.seed import demo_data, import_regions, load_reference

    await migrate()

    async def work() -> None:
        source, counts = await import_regions(geojson)
        print(f"regions: {source}")
        print("  " + ", ".join(f"{n} {level.lower()}" for level, n in counts.items()))
        n_agencies, n_categories = await load_reference()
        print(f"reference data: {n_agencies} agencies, {n_categories} categories")
        if demo:
            logins = await demo_data()
            print("demo data loaded; logins (password for all):")
            for login in logins:
                print(f"  {login.handle:<20} {login.role.value:<15} {login.unit:<18} {login.password}")

    await _with_orm(work)


def cmd_seed(args: argparse.Namespace) -> None:
    asyncio.run(_seed(args.demo, args.regions or get_settings().regions_geojson))


def cmd_regions_import(args: argparse.Namespace) -> None:
    from domain.kelurahan import GeoJSONMapping, regions_from_geojson
    from domain.seed import load_regions

    mapping = GeoJSONMapping(**dict(kv.split("=", 1) for kv in args.map or []))
    records = regions_from_geojson(args.file, mapping)

    async def work() -> dict[str, int]:
        return await load_regions(records, f"official polygons: {os.path.basename(args.file)}")

    asyncio.run(migrate())
    counts = asyncio.run(_with_orm(work))
    print("imported " + ", ".join(f"{n} {level.lower()}" for level, n in counts.items()))


def cmd_create_user(args: argparse.Namespace) -> None:
    from domain.catalog import catalog, reload_catalog
    from domain.errors import WargaError
    from domain.users import create_staff, register
    from models.enums import Role

    async def work() -> None:
        await reload_catalog()
        role = Role(args.role.upper())
        region_id = agency_id = None
        if args.region:
            region = catalog().region_by_code.get(args.region)
            if region is None:
                sys.exit(f"no region with code {args.region}")
            region_id = region.id
        if args.agency:
            agency = next((a for a in catalog().agencies.values() if a.code == args.agency), None)
            if agency is None:
                sys.exit(f"no agency with code {args.agency}")
            agency_id = agency.id
        try:
            if role == Role.CITIZEN:
                user = await register(args.handle, args.name or args.handle, args.password, None, None)
            else:
                user = await create_staff(
                    None,
                    handle=args.handle,
                    display_name=args.name or args.handle,
                    password=args.password,
                    role=role,
                    region_id=region_id,
                    agency_id=agency_id,
                )
        except WargaError as exc:
            sys.exit(f"error: {exc.message}")
        print(f"created user {user.handle} (id {user.id}, {role.value})")

    asyncio.run(_with_orm(work))


def cmd_close_stale(args: argparse.Namespace) -> None:
    from domain.lifecycle import close_stale
    from domain.tx import now

    days = args.days if args.days is not None else get_settings().auto_close_days
    closed = asyncio.run(_with_orm(lambda: close_stale(now(), days)))
    print(f"closed {closed} resolved reports unanswered for {days:g} days")


def cmd_rebuild_rollups(args: argparse.Namespace) -> None:
    from domain import rollups

    started = time.monotonic()
    cells = asyncio.run(_with_orm(rollups.rebuild))
    print(f"rollups rebuilt: {cells} cells in {time.monotonic() - started:.1f} s")


def cmd_api_key(args: argparse.Namespace) -> None:
    from domain import apikeys
    from domain.errors import WargaError
    from models import ApiKey, User

    async def work() -> None:
        try:
            if args.sub == "issue":
                user = await User.get_or_none(handle=args.user)
                if user is None:
                    sys.exit(f"no user with handle {args.user}")
                row, key = await apikeys.issue(None, args.name, user.id)
                print(f"API key {row.id} for {user.handle} ({row.name}): {key}")
                print("Store it now: only its hash is kept.")
            elif args.sub == "revoke":
                row = await apikeys.revoke(None, args.id)
                print(f"API key {row.id} ({row.name}) revoked at {row.revoked_at}")
            else:
                for row in await ApiKey.all().order_by("id"):
                    state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
                    print(f"{row.id:>4}  {row.prefix}...  {row.name:<30} user {row.user_id}  {state}")  # type: ignore[attr-defined]
        except WargaError as exc:
            sys.exit(f"error: {exc.message}")

    asyncio.run(_with_orm(work))


def cmd_notifications(args: argparse.Namespace) -> None:
    """The outbox: counts per channel and state, the oldest waiting, the dead letters; `retry`
    puts failed ones back in the queue, `prune` drops old delivered ones."""
    from domain import notifications_sender as outbox

    async def work() -> None:
        if args.action == "retry":
            n = await outbox.retry_failed(args.ids or None)
            print(f"{n} failed notification(s) queued again")
            return
        if args.action == "prune":
            print(f"{await outbox.prune(args.days)} delivered or dropped notification(s) removed")
            return
        status = await outbox.queue_status()
        counts = status["counts"]
        print(f"{'channel':<8} {'pending':>8} {'sent':>8} {'failed':>8} {'dropped':>8}")
        for channel in ("push", "email"):
            row = [counts.get(f"{channel}.{state}", 0) for state in ("pending", "sent", "failed", "dropped")]
            print(f"{channel:<8} " + " ".join(f"{n:>8}" for n in row))
        print(f"oldest pending: {status['oldest_pending'] or '-'}")
        for f in status["failed"]:
            print(f"  failed #{f['id']} user {f['user_id']} {f['channel']} {f['kind']}"
                  f" after {f['attempts']} attempt(s): {f['error']}")  # fmt: skip

    asyncio.run(_with_orm(work))


def cmd_schema(args: argparse.Namespace) -> None:
    from schema import schema

    sys.stdout.write(schema.as_str())


def _metrics_dir() -> str:
    """An empty directory for prometheus-client's multiprocess files, set in the environment
    before any worker imports prometheus_client (README "Operating")."""
    import shutil

    from config import _var_dir

    path = _var_dir() / "metrics" / str(os.getpid())
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return str(path)


def _serve_metrics(bind: str) -> None:
    """METRICS_BIND=host:port: /metrics on a listener of its own (no token), in this process;
    with several workers it reads every worker's files."""
    from prometheus_client import start_http_server

    from telemetry import metrics

    host, _, port = bind.rpartition(":")
    registry = None
    if metrics.multiprocess():
        from prometheus_client import CollectorRegistry
        from prometheus_client import multiprocess as mp

        registry = CollectorRegistry()
        mp.MultiProcessCollector(registry)
        start_http_server(int(port), addr=host or "127.0.0.1", registry=registry)
    else:
        start_http_server(int(port), addr=host or "127.0.0.1")
    log.info("metrics on http://%s/metrics", bind)


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    from serving.options import uvicorn_options

    s = get_settings()
    if args.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir()
    if s.metrics_bind:
        _serve_metrics(s.metrics_bind)
    uvicorn.run(
        "server:create_app",
        factory=True,
        host=args.host or s.host,
        port=args.port or s.port,
        workers=args.workers,
        **uvicorn_options(s, log_level=args.log_level, access_log=not args.no_access_log),
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="warga", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)

    seed = sub.add_parser("seed", help="load regions, agencies, categories (and demo data)")
    seed.add_argument("--demo", action="store_true", help="add demo users and reports")
    seed.add_argument(
        "--regions", help="official kelurahan GeoJSON (default: REGIONS_GEOJSON, else the built-in set)"
    )
    seed.set_defaults(func=cmd_seed)

    regions = sub.add_parser("regions", help="region data").add_subparsers(dest="sub", required=True)
    imp = regions.add_parser("import", help="import official kelurahan polygons from GeoJSON")
    imp.add_argument("file")
    imp.add_argument(
        "--map",
        action="append",
        metavar="FIELD=PROPERTY",
        help="property mapping, e.g. --map code=kode --map name=nama",
    )
    imp.set_defaults(func=cmd_regions_import)

    cu = sub.add_parser("create-user", help="create a staff or admin account")
    cu.add_argument("--handle", required=True)
    cu.add_argument("--password", required=True)
    cu.add_argument("--role", required=True)
    cu.add_argument("--name")
    cu.add_argument("--region", help="region code, e.g. 31.71.01.1001")
    cu.add_argument("--agency", help="agency code, e.g. DLH")
    cu.set_defaults(func=cmd_create_user)

    cs = sub.add_parser("close-stale", help="close RESOLVED reports the reporter left unanswered")
    cs.add_argument("--days", type=float, help="default: AUTO_CLOSE_DAYS (7)")
    cs.set_defaults(func=cmd_close_stale)

    sub.add_parser("rebuild-rollups", help="recompute every rollup from the reports").set_defaults(
        func=cmd_rebuild_rollups
    )

    keys = sub.add_parser("api-key", help="API keys of partner apps (Open311 POST)")
    keys_sub = keys.add_subparsers(dest="sub", required=True)
    issue = keys_sub.add_parser("issue", help="issue a key; it is printed once")
    issue.add_argument("--name", required=True, help="the partner app")
    issue.add_argument("--user", required=True, help="handle of the account reports are posted as")
    issue.set_defaults(func=cmd_api_key)
    revoke = keys_sub.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("id", type=int)
    revoke.set_defaults(func=cmd_api_key)
    keys_sub.add_parser("list", help="list keys").set_defaults(func=cmd_api_key)

    sub.add_parser("schema", help="print the GraphQL SDL").set_defaults(func=cmd_schema)

    notes = sub.add_parser("notifications", help="the notification queue: pending, sent, failed")
    notes.add_argument("action", nargs="?", choices=["status", "retry", "prune"], default="status")
    notes.add_argument("ids", nargs="*", type=int, help="retry: only these ids (default: every failed one)")
    notes.add_argument("--days", type=float, default=30, help="prune: older than this many days")
    notes.set_defaults(func=cmd_notifications)

    serve = sub.add_parser("serve", help="run the HTTP/websocket server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--no-access-log", action="store_true", help="no line per request")
    serve.set_defaults(func=cmd_serve)
    return p


def main(argv: list[str] | None = None) -> None:
    from telemetry import logs

    logs.configure(os.environ.get("LOG_FORMAT", "text"))
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
