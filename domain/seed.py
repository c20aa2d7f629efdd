"""Loading what a city needs: regions, agencies, categories, and optional demo data."""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from shapely.geometry import Point, shape
from tortoise.transactions import in_transaction

from config import DATA_DIR
from domain import rollups
from domain.auth import hash_password
from domain.catalog import REGION_SOURCE_KEY, Catalog, reload_catalog
from domain.kelurahan import BUILTIN_SOURCE, RegionRecord, builtin_regions, regions_from_geojson
from domain.tx import now
from models import Agency, Category, KeyValue, Region, Report, StatusChange, User
from models.enums import RegionLevel, ReportStatus, Role


async def load_regions(records: list[RegionRecord], source: str) -> dict[str, int]:
    """Upsert by code, parents first; regions already referenced by reports are updated in
    place, never deleted."""
    counts: dict[str, int] = {}
    async with in_transaction() as conn:
        ids: dict[str, int] = {r.code: r.id for r in await Region.all().using_db(conn)}
        for rec in records:
            values = {
                "name": rec.name,
                "level": RegionLevel(rec.level),
                "parent_id": ids.get(rec.parent_code) if rec.parent_code else None,
                "lat": rec.lat,
                "lng": rec.lng,
                "boundary": rec.boundary,
            }
            if rec.code in ids:
                await Region.filter(id=ids[rec.code]).using_db(conn).update(**values)
            else:
                region = await Region.create(code=rec.code, using_db=conn, **values)
                ids[rec.code] = region.id
            counts[rec.level] = counts.get(rec.level, 0) + 1
        await KeyValue.update_or_create(key=REGION_SOURCE_KEY, defaults={"value": source}, using_db=conn)
    return counts


async def import_regions(geojson: str | None) -> tuple[str, dict[str, int]]:
    if geojson:
        path = Path(geojson)
        source = f"official polygons: {path.name}"
        records = regions_from_geojson(path)
    else:
        source = BUILTIN_SOURCE
        records = builtin_regions()
    return source, await load_regions(records, source)


async def load_reference() -> tuple[int, int]:
    """The 12 dinas and 18 categories of data/agencies.csv and data/categories.csv."""
    async with in_transaction() as conn:
        agencies: dict[str, int] = {}
        with (DATA_DIR / "agencies.csv").open(newline="") as fh:
            for row in csv.DictReader(fh):
                agency, _ = await Agency.update_or_create(
                    code=row["code"], defaults={"name": row["name"]}, using_db=conn
                )
                agencies[agency.code] = agency.id
        n_categories = 0
        with (DATA_DIR / "categories.csv").open(newline="") as fh:
            for row in csv.DictReader(fh):
                await Category.update_or_create(
                    code=row["code"],
                    defaults={
                        "name": row["name_id"],
                        "name_en": row["name_en"],
                        "agency_id": agencies.get(row["dinas_code"]),
                        "sla_hours": int(row["sla_hours"]),
                        "share_pct": float(row["share_pct"]),
                    },
                    using_db=conn,
                )
                n_categories += 1
    return len(agencies), n_categories


# ---------------------------------------------------------------- demo data


@dataclass(frozen=True)
class DemoLogin:
    handle: str
    password: str
    role: Role
    unit: str


DEMO_PASSWORD = "warga-demo-2026"


async def _demo_users(cat: Catalog) -> tuple[list[DemoLogin], list[int]]:
    """A staff account per role (officers of Gambir and of the sanitation dinas) and 60
    citizens; idempotent by handle."""
    pw = hash_password(DEMO_PASSWORD)
    gambir = next(
        (r for r in cat.regions.values() if r.level == RegionLevel.KELURAHAN and r.name == "Gambir"), None
    )
    dlh = next((a for a in cat.agencies.values() if a.code == "DLH"), None)
    staff = [
        ("admin", "Admin Warga", Role.ADMIN, None, None, "-"),
        ("moderator", "Moderator Warga", Role.MODERATOR, None, None, "-"),
        (
            "lurah.gambir",
            "Petugas Kelurahan Gambir",
            Role.OFFICER,
            gambir.id if gambir else None,
            None,
            "kelurahan Gambir",
        ),
        (
            "petugas.dlh",
            "Petugas Dinas Lingkungan Hidup",
            Role.OFFICER,
            None,
            dlh.id if dlh else None,
            "dinas DLH",
        ),
        ("mitra", "Mitra Data", Role.AGENCY_PARTNER, None, dlh.id if dlh else None, "partner"),
    ]
    logins = []
    for handle, name, role, region_id, agency_id, unit in staff:
        await User.get_or_create(
            handle=handle,
            defaults={
                "display_name": name,
                "role": role,
                "region_id": region_id,
                "agency_id": agency_id,
                "password_hash": pw,
            },
        )
        logins.append(DemoLogin(handle, DEMO_PASSWORD, role, unit))
    citizen_ids = []
    for i in range(60):
        user, _ = await User.get_or_create(
            handle=f"warga{i:02d}",
            defaults={"display_name": f"Warga {i:02d}", "password_hash": pw},
        )
        citizen_ids.append(user.id)
    logins.append(DemoLogin("warga00 .. warga59", DEMO_PASSWORD, Role.CITIZEN, "-"))
    return logins, citizen_ids


def _random_point(rng: random.Random, geometry: dict) -> tuple[float, float]:
    poly = shape(geometry)
    minx, miny, maxx, maxy = poly.bounds
    for _ in range(200):
        lng, lat = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if poly.contains(Point(lng, lat)):
            return lat, lng
    rp = poly.representative_point()
    return rp.y, rp.x


async def demo_data(n_reports: int = 3000, seed: int = 2016) -> list[DemoLogin]:
    """Reports spread by category share over the kelurahan polygons, created over the last
    60 days, in a realistic mix of states with consistent timelines."""
    cat = await reload_catalog()
    logins, citizens = await _demo_users(cat)
    if await Report.filter(client_request_id__startswith="demo-").exists():
        return logins
    rng = random.Random(seed)
    staff_id = (await User.get(handle="lurah.gambir")).id
    kelurahan = [r for r in cat.regions.values() if r.level == RegionLevel.KELURAHAN and r.boundary]
    categories = list(cat.categories.values())
    weights = [c.share_pct for c in categories]
    t_now = now()
    reports: list[Report] = []
    steps: list[list[tuple[ReportStatus | None, ReportStatus, object, str | None]]] = []
    for i in range(n_reports):
        category = rng.choices(categories, weights)[0]
        kel = rng.choice(kelurahan)
        lat, lng = _random_point(rng, kel.boundary)
        routed = cat.route(lat, lng) or kel
        kec = cat.parent(routed)
        kota = cat.parent(kec) if kec else None
        created = t_now - timedelta(minutes=rng.uniform(5, 60 * 24 * 60))
        r = Report(
            client_request_id=f"demo-{i}",
            author_id=rng.choice(citizens),
            anonymous=rng.random() < 0.05,
            category_id=category.id,
            agency_id=category.agency_id,  # type: ignore[attr-defined]
            kelurahan_id=routed.id,
            kecamatan_id=kec.id if kec else routed.id,
            kota_id=kota.id if kota else routed.id,
            status=ReportStatus.SUBMITTED,
            lat=lat,
            lng=lng,
            address=None,
            description=f"Laporan {category.name.lower()} di {routed.name} (demo)",
            created_at=created,
            updated_at=created,
            vote_count=rng.randint(0, 12),
        )
        trail: list[tuple[ReportStatus | None, ReportStatus, object, str | None]] = [
            (None, ReportStatus.SUBMITTED, created, None)
        ]

        def move(
            to: ReportStatus, at: object, note: str | None = None, r: Report = r, trail: list = trail
        ) -> bool:
            if at > t_now:  # type: ignore[operator]
                return False
            trail.append((r.status, to, at, note))
            r.status = to
            r.updated_at = at  # type: ignore[assignment]
            return True

        roll = rng.random()
        if roll < 0.06:
            pass  # still waiting for a moderator
        elif roll < 0.10:
            move(ReportStatus.REJECTED, created + timedelta(hours=rng.uniform(0.2, 6)), "Bukan laporan valid")
        elif roll < 0.13:
            move(ReportStatus.DUPLICATE, created + timedelta(hours=rng.uniform(0.2, 6)))
        else:
            verified = created + timedelta(hours=rng.uniform(0.1, 8))
            if move(ReportStatus.VERIFIED, verified):
                r.verified_at = verified
                r.due_at = verified + timedelta(hours=category.sla_hours)
                r.assignee_id = staff_id if routed.name == "Gambir" else None  # type: ignore[attr-defined]
                fate = rng.random()
                respond = verified + timedelta(hours=rng.expovariate(1 / 6))
                if fate > 0.15 and move(ReportStatus.IN_PROGRESS, respond, "Sedang ditindaklanjuti"):
                    r.first_response_at = respond
                    fix = respond + timedelta(hours=rng.expovariate(1 / (category.sla_hours * 0.6)))
                    if fate > 0.3 and move(ReportStatus.RESOLVED, fix, "Sudah ditangani"):
                        r.resolved_at = fix
                        close = fix + timedelta(hours=rng.uniform(1, 72))
                        rating = rng.choice([1, 2, 3, 4, 4, 5, 5, 5]) if fate > 0.45 else None
                        if rating is not None and move(
                            ReportStatus.REOPENED if rating <= 2 else ReportStatus.CLOSED,
                            close,
                            "Belum selesai" if rating <= 2 else None,
                        ):
                            r.rating = rating
                            if rating <= 2:
                                r.resolved_at = None
                            else:
                                r.closed_at = close
        reports.append(r)
        steps.append(trail)
    async with in_transaction() as conn:
        await Report.bulk_create(reports, batch_size=500, using_db=conn)
        stored = {
            x.client_request_id: x.id
            for x in await Report.filter(client_request_id__startswith="demo-").using_db(conn)
        }
        changes = [
            StatusChange(
                report_id=stored[r.client_request_id],
                from_status=a,
                to_status=b,
                actor_id=None if a is None else staff_id,
                note=note,
                created_at=at,
            )
            for r, trail in zip(reports, steps, strict=True)
            for a, b, at, note in trail
        ]
        await StatusChange.bulk_create(changes, batch_size=1000, using_db=conn)
        for uid in citizens:
            n = sum(1 for r in reports if r.author_id == uid)  # type: ignore[attr-defined]
            await User.filter(id=uid).using_db(conn).update(reports_count=n)
    await rollups.rebuild()  # bulk-loaded rows bypassed the incremental path
    return logins
