"""Loading what a city needs: regions, agencies, categories, and optional demo data."""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from shapely.geometry import Point, shape
from tortoise.transactions import in_transaction

from config import DATA_DIR
from domain import rollups
from domain.auth import hash_password
from domain.catalog import REGION_SOURCE_KEY, Catalog, reload_catalog
from domain.kelurahan import BUILTIN_SOURCE, RegionRecord, builtin_regions, regions_from_geojson
from domain.tx import now
from models import Agency, Category, KeyValue, Region, Report, StatusChange, User, Vote
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


AUTO_CLOSE_AFTER = timedelta(days=7)


async def demo_data(n_reports: int = 3000, seed: int = 2016) -> list[DemoLogin]:
    """Reports spread by category share over the kelurahan polygons, created over the last
    60 days, in a realistic mix of states, with timelines, votes and rollups consistent."""
    cat = await reload_catalog()
    logins, citizens = await _demo_users(cat)
    if await Report.filter(client_request_id__startswith="demo-").exists():
        return logins
    rng = random.Random(seed)
    moderator = (await User.get(handle="moderator")).id
    lurah_gambir = (await User.get(handle="lurah.gambir")).id
    dlh_officer = await User.get(handle="petugas.dlh")
    kota_officers = await _kota_officers(cat)
    logins.append(DemoLogin("petugas.<kota code>", DEMO_PASSWORD, Role.OFFICER, "one per kota"))
    kelurahan = [r for r in cat.regions.values() if r.level == RegionLevel.KELURAHAN and r.boundary]
    categories = list(cat.categories.values())
    weights = [c.share_pct for c in categories]
    t_now = now()
    reports: list[Report] = []
    trails: list[list[tuple[ReportStatus | None, ReportStatus, datetime, str | None, int | None]]] = []
    for i in range(n_reports):
        category = rng.choices(categories, weights)[0]
        lat, lng = _random_point(rng, rng.choice(kelurahan).boundary)
        routed = cat.route(lat, lng)
        if routed is None:
            continue
        kec = cat.parent(routed)
        kota = cat.parent(kec)  # type: ignore[arg-type]
        assert kec is not None and kota is not None
        created = t_now - timedelta(minutes=rng.uniform(5, 60 * 24 * 60))
        author = rng.choice(citizens)
        r = Report(
            client_request_id=f"demo-{i}", author_id=author, anonymous=rng.random() < 0.05,
            category_id=category.id, agency_id=category.agency_id,  # type: ignore[attr-defined]
            kelurahan_id=routed.id, kecamatan_id=kec.id, kota_id=kota.id,
            status=ReportStatus.SUBMITTED, lat=lat, lng=lng, address=None,
            description=f"Laporan {category.name.lower()} di {routed.name} (demo)",
            created_at=created, updated_at=created,
        )  # fmt: skip
        trail: list[tuple[ReportStatus | None, ReportStatus, datetime, str | None, int | None]] = [
            (None, ReportStatus.SUBMITTED, created, None, author)
        ]

        def move(to: ReportStatus, at: datetime, actor: int | None, note: str | None = None,
                 r: Report = r, trail: list = trail) -> bool:  # fmt: skip
            if at > t_now:
                return False
            trail.append((r.status, to, at, note, actor))
            r.status = to
            r.updated_at = at
            return True

        if category.agency_id == dlh_officer.agency_id:  # type: ignore[attr-defined]
            officer = dlh_officer.id
        elif routed.name == "Gambir":
            officer = lurah_gambir
        else:
            officer = kota_officers[kota.id]
        roll = rng.random()
        decided = created + timedelta(hours=rng.uniform(0.1, 8))
        if roll < 0.06:
            pass  # still waiting for a moderator
        elif roll < 0.10:
            move(ReportStatus.REJECTED, decided, moderator, "Bukan laporan valid")
        elif roll < 0.13 and move(ReportStatus.DUPLICATE, decided, moderator, "Duplikat"):
            earlier = [x for x in reports if x.status not in (ReportStatus.REJECTED, ReportStatus.DUPLICATE)]
            if not earlier:  # nothing to be a duplicate of: keep it waiting instead
                trail.pop()
                r.status, r.updated_at = ReportStatus.SUBMITTED, created
            else:
                r._demo_duplicate_of = rng.choice(earlier).client_request_id  # type: ignore[attr-defined]
        elif move(ReportStatus.VERIFIED, decided, moderator):
            r.verified_at = decided
            r.due_at = decided + timedelta(hours=category.sla_hours)
            r.assignee_id = officer  # type: ignore[attr-defined]
            fate = rng.random()
            respond = decided + timedelta(hours=rng.expovariate(1 / 6))
            if fate > 0.15 and move(ReportStatus.IN_PROGRESS, respond, officer, "Sedang ditindaklanjuti"):
                r.first_response_at = respond
                fix = respond + timedelta(hours=rng.expovariate(1 / (category.sla_hours * 0.6)))
                if fate > 0.3 and move(ReportStatus.RESOLVED, fix, officer, "Sudah ditangani"):
                    r.resolved_at = fix
                    answer = fix + timedelta(hours=rng.uniform(1, 72))
                    rating = rng.choice([1, 2, 3, 4, 4, 5, 5, 5]) if fate > 0.45 else None
                    if rating is None:
                        # The reporter never answered: the system closes it after 7 days.
                        closed = fix + AUTO_CLOSE_AFTER
                        if move(ReportStatus.CLOSED, closed, None, "Ditutup otomatis (demo)"):
                            r.closed_at = closed
                    elif move(ReportStatus.REOPENED if rating <= 2 else ReportStatus.CLOSED, answer, author,
                              "Belum selesai" if rating <= 2 else None):  # fmt: skip
                        r.rating = rating
                        if rating <= 2:
                            r.resolved_at = None
                        else:
                            r.closed_at = answer
        reports.append(r)
        trails.append(trail)
    await _store_demo(reports, trails, citizens, rng)
    return logins


async def _kota_officers(cat: Catalog) -> dict[int, int]:
    pw = hash_password(DEMO_PASSWORD)
    out = {}
    for kota in (r for r in cat.regions.values() if r.level == RegionLevel.KOTA):
        user, _ = await User.get_or_create(
            handle=f"petugas.{kota.code.replace('.', '')}",
            defaults={"display_name": f"Petugas {kota.name}", "role": Role.OFFICER, "region_id": kota.id,
                      "password_hash": pw},
        )  # fmt: skip
        out[kota.id] = user.id
    return out


async def _store_demo(
    reports: list[Report],
    trails: list[list[tuple[ReportStatus | None, ReportStatus, datetime, str | None, int | None]]],
    citizens: list[int],
    rng: random.Random,
) -> None:
    voters = {}
    for r in reports:
        voters[r.client_request_id] = rng.sample(citizens, k=min(len(citizens), int(rng.expovariate(1 / 2))))
        r.vote_count = len(voters[r.client_request_id])
    async with in_transaction() as conn:
        await Report.bulk_create(reports, batch_size=500, using_db=conn)
        stored = {
            x.client_request_id: x.id
            for x in await Report.filter(client_request_id__startswith="demo-").using_db(conn)
        }
        for r in reports:
            target = getattr(r, "_demo_duplicate_of", None)
            if target:
                await (
                    Report.filter(id=stored[r.client_request_id])
                    .using_db(conn)
                    .update(duplicate_of_id=stored[target])
                )
        await StatusChange.bulk_create(
            [
                StatusChange(report_id=stored[r.client_request_id], from_status=a, to_status=b,
                             actor_id=actor, note=note, created_at=at)
                for r, trail in zip(reports, trails, strict=True)
                for a, b, at, note, actor in trail
            ],
            batch_size=1000,
            using_db=conn,
        )  # fmt: skip
        votes = []
        for r in reports:
            voters = rng.sample(citizens, k=min(len(citizens), int(rng.expovariate(1 / 2))))
            votes += [Vote(report_id=stored[r.client_request_id], user_id=u, created_at=r.created_at)
                      for u in voters]  # fmt: skip
            r.vote_count = len(voters)
        await Vote.bulk_create(votes, batch_size=1000, using_db=conn)
        for r in reports:
            if r.vote_count:
                await (
                    Report.filter(id=stored[r.client_request_id])
                    .using_db(conn)
                    .update(vote_count=r.vote_count)
                )
    await rollups.rebuild()  # bulk-loaded rows bypassed the incremental path
