"""The city the generator fills, read back from the database after the project's own seed
functions loaded it (so ids, codes and polygons are exactly what the service routes with),
and the people in it: citizens plus the staff who answer for each unit."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import asyncpg
import numpy as np
import shapely
from shapely.geometry import shape

from bench.pgcopy import CopyBuffer
from domain.kelurahan import KelurahanRouter

# ---------------------------------------------------------------- regions and categories


@dataclass
class City:
    """Kelurahan polygons with sampling weights, the region tree as id arrays, categories."""

    kel_ids: np.ndarray
    kel_geoms: np.ndarray
    kel_weight: np.ndarray
    parent: np.ndarray
    region_name: np.ndarray
    region_code: dict[int, str]
    kec_ids: np.ndarray
    kota_ids: np.ndarray
    router: KelurahanRouter
    kel_tree: shapely.STRtree
    tri_xy: np.ndarray
    tri_cum: np.ndarray
    tri_start: np.ndarray
    tri_count: np.ndarray
    kel_tri_area: np.ndarray
    cat_ids: np.ndarray
    cat_codes: list[str]
    cat_names: list[str]
    cat_agency: np.ndarray
    cat_sla_hours: np.ndarray
    cat_share: np.ndarray
    agency_ids: np.ndarray
    agency_codes: list[str]
    agency_names: list[str]

    @classmethod
    async def load(cls, conn: asyncpg.Connection) -> City:
        """Read back what the seed stored, so ids and polygons are the service's own."""
        regions = await conn.fetch(
            "SELECT id, code, name, level, parent_id, boundary FROM region ORDER BY code"
        )
        top = max(r["id"] for r in regions) + 1
        parent = np.zeros(top, dtype=np.int64)
        names = np.empty(top, dtype=object)
        kel: list[tuple[int, dict]] = []
        kec, kota = [], []
        for r in regions:
            parent[r["id"]] = r["parent_id"] or 0
            names[r["id"]] = r["name"]
            if r["level"] == "KELURAHAN" and r["boundary"]:
                boundary = r["boundary"]
                kel.append((r["id"], json.loads(boundary) if isinstance(boundary, str) else boundary))
            elif r["level"] == "KECAMATAN":
                kec.append(r["id"])
            elif r["level"] == "KOTA":
                kota.append(r["id"])
        if not kel:
            raise SystemExit("no kelurahan with a boundary: the seed step loaded no regions")
        geoms = np.array([shape(g) for _, g in kel], dtype=object)
        shapely.prepare(geoms)
        area = shapely.area(geoms)
        # Reports per kelurahan grow with its size, but less than proportionally: the small
        # central kelurahan are the dense, busy ones. sqrt(area) splits the difference between
        # "uniform per kelurahan" and "uniform per km2" (documented in bench/generate.py).
        weight = np.sqrt(area)
        cats = await conn.fetch(
            "SELECT id, code, name, agency_id, sla_hours, share_pct FROM category ORDER BY id"
        )
        if not cats:
            raise SystemExit("no categories: the seed step loaded no reference data")
        share = np.array([max(c["share_pct"], 0.0) for c in cats], dtype=float)
        if share.sum() <= 0:
            share[:] = 1.0
        agencies = await conn.fetch("SELECT id, code, name FROM agency ORDER BY id")
        return cls(
            kel_ids=np.array([i for i, _ in kel], dtype=np.int64),
            kel_geoms=geoms,
            kel_weight=weight / weight.sum(),
            parent=parent,
            region_name=names,
            region_code={r["id"]: r["code"] for r in regions},
            kec_ids=np.array(kec, dtype=np.int64),
            kota_ids=np.array(kota, dtype=np.int64),
            router=KelurahanRouter(kel),
            kel_tree=shapely.STRtree(geoms),
            **_triangles(geoms),
            cat_ids=np.array([c["id"] for c in cats], dtype=np.int64),
            cat_codes=[c["code"] for c in cats],
            cat_names=[c["name"] for c in cats],
            cat_agency=np.array([c["agency_id"] or 0 for c in cats], dtype=np.int64),
            cat_sla_hours=np.array([c["sla_hours"] for c in cats], dtype=np.int64),
            cat_share=share / share.sum(),
            agency_ids=np.array([a["id"] for a in agencies], dtype=np.int64),
            agency_codes=[a["code"] for a in agencies],
            agency_names=[a["name"] for a in agencies],
        )

    def sample_points(self, rng: np.random.Generator, kel_index: np.ndarray) -> tuple[np.ndarray, ...]:
        """(lat, lng, kelurahan id) for each requested kelurahan index.

        A uniform point of the polygon: a triangle of its constrained Delaunay triangulation
        chosen by area, then a uniform point in the triangle (no rejection loop, so islands
        and thin shapes cost the same). Rounded to 6 decimals as GPS apps send, the point is
        then routed like the service routes it: one touching a single polygon belongs to it
        (rounding may move it next door), the rare ones on an overlap or an edge go through
        the service's own KelurahanRouter and its tie-breaks.
        """
        n = kel_index.size
        first, count = self.tri_start[kel_index], self.tri_count[kel_index]
        base = np.where(first > 0, self.tri_cum[first - 1], 0.0)
        target = base + rng.random(n) * self.kel_tri_area[kel_index]
        tri = np.clip(np.searchsorted(self.tri_cum, target, side="right"), first, first + count - 1)
        r1, r2 = rng.random(n), rng.random(n)
        flip = r1 + r2 > 1
        r1[flip], r2[flip] = 1 - r1[flip], 1 - r2[flip]
        a, b, c = self.tri_xy[tri, 0], self.tri_xy[tri, 1], self.tri_xy[tri, 2]
        xy = a + r1[:, None] * (b - a) + r2[:, None] * (c - a)
        lng, lat = np.round(xy[:, 0], 6), np.round(xy[:, 1], 6)
        routed = self.kel_ids[kel_index].copy()
        # Bounding-box candidates, then the exact test on the prepared polygons (query's own
        # predicate would test against the unprepared tree geometries, 20x slower).
        point_idx, tree_idx = self.kel_tree.query(shapely.points(lng, lat))
        touch = shapely.intersects_xy(self.kel_geoms[tree_idx], lng[point_idx], lat[point_idx])
        point_idx, tree_idx = point_idx[touch], tree_idx[touch]
        hits = np.bincount(point_idx, minlength=n)
        single = hits[point_idx] == 1
        routed[point_idx[single]] = self.kel_ids[tree_idx[single]]
        for i in np.flatnonzero(hits != 1).tolist():
            routed[i] = self.router.locate(lat[i], lng[i]) or routed[i]
        return lat, lng, routed


def _triangles(geoms: np.ndarray) -> dict[str, np.ndarray]:
    """Every kelurahan as triangles (corners, cumulative area in kelurahan order), so a point
    uniform over any polygon is two uniform numbers and a binary search."""
    parts, owner = shapely.get_parts(shapely.constrained_delaunay_triangles(geoms), return_index=True)
    order = np.argsort(owner, kind="stable")
    parts, owner = parts[order], owner[order]
    area = shapely.area(parts)
    return {
        "tri_xy": shapely.get_coordinates(parts).reshape(-1, 4, 2)[:, :3, :],
        "tri_cum": np.cumsum(area),
        "tri_start": np.searchsorted(owner, np.arange(geoms.size)),
        "tri_count": np.bincount(owner, minlength=geoms.size),
        "kel_tri_area": np.bincount(owner, weights=area, minlength=geoms.size),
    }


# ---------------------------------------------------------------- people

FIRST_NAMES = (
    "Agus Budi Citra Dewi Eko Fajar Gita Hendra Indah Joko Kartika Lestari Made Nur Oki Putri Rina "
    "Sari Tono Utami Wahyu Yanti Yusuf Zaenal Ahmad Bambang Dian Fitri Galih Hana Irfan Wulan Rudi "
    "Siti Taufik Ayu Bayu Dimas Eka Fikri Intan Kevin Lina Maya Nanda Rizky Sinta Teguh Vina"
).split()
LAST_NAMES = (
    "Santoso Wijaya Saputra Lestari Pratama Hidayat Nugroho Setiawan Kusuma Siregar Nasution "
    "Harahap Simanjuntak Gunawan Halim Rahman Permana Suryadi Utomo Wibowo Purnama Hakim Sitompul "
    "Firmansyah Maulana Ramadhan Kurniawan Susanto Hartono Tanjung"
).split()

ADMINS, MODERATORS, PARTNERS, DINAS_OFFICERS = 3, 30, 5, 5


@dataclass
class Staff:
    """One non-citizen account."""

    handle: str
    name: str
    role: str
    region_id: int | None
    agency_id: int | None


@dataclass
class People:
    """Who is who, as id arrays the day generator indexes with whole columns at once.

    Citizens come first (id i has handle u{i:07d}, so a load driver can log in as any of them
    without a lookup); staff follow with descriptive handles (lurah.<code>, camat.<code>,
    walikota.<code>, petugas.<dinas>.<n>, moderator<nn>, admin<n>, mitra<n>).
    """

    citizens: int
    staff: list[Staff]
    moderators: np.ndarray
    region_officer: np.ndarray
    dinas_officers: np.ndarray
    author_rank: np.ndarray

    @classmethod
    def build(cls, city: City, total_users: int, rng: np.random.Generator) -> People:
        """Staff per unit (one officer per region, five per dinas), the rest citizens."""
        staff: list[Staff] = []
        staff += [Staff(f"admin{i}", f"Admin Warga {i}", "ADMIN", None, None) for i in range(1, ADMINS + 1)]
        staff += [
            Staff(f"moderator{i:02d}", f"Moderator Warga {i:02d}", "MODERATOR", None, None)
            for i in range(1, MODERATORS + 1)
        ]
        units = [("lurah", "Kelurahan", int(i)) for i in city.kel_ids]
        units += [("camat", "Kecamatan", int(i)) for i in city.kec_ids]
        units += [("walikota", "Kota", int(i)) for i in city.kota_ids]
        for prefix, label, region_id in units:
            digits = re.sub(r"\D", "", city.region_code[region_id])
            name = f"Petugas {label} {city.region_name[region_id]}"[:80]
            staff.append(Staff(f"{prefix}.{digits}", name, "OFFICER", region_id, None))
        for agency_id, code, agency_name in zip(
            city.agency_ids.tolist(), city.agency_codes, city.agency_names, strict=True
        ):
            slug = re.sub(r"[^a-z0-9]", "", code.lower())[:16] or str(agency_id)
            for i in range(1, DINAS_OFFICERS + 1):
                staff.append(
                    Staff(
                        f"petugas.{slug}.{i}", f"Petugas {agency_name} {i}"[:80], "OFFICER", None, agency_id
                    )
                )
        for i in range(PARTNERS):
            agency = int(city.agency_ids[i % city.agency_ids.size]) if city.agency_ids.size else None
            staff.append(Staff(f"mitra{i + 1}", f"Mitra Data {i + 1}", "AGENCY_PARTNER", None, agency))
        citizens = total_users - len(staff)
        if citizens < 100:
            raise SystemExit(f"--users must be at least {len(staff) + 100} (there are {len(staff)} staff)")
        moderators, region_officer = [], np.zeros(city.parent.size, dtype=np.int64)
        top_agency = int(city.agency_ids.max()) + 1 if city.agency_ids.size else 1
        dinas = np.zeros((top_agency, DINAS_OFFICERS), dtype=np.int64)
        for offset, s in enumerate(staff):
            user_id = citizens + 1 + offset
            if s.role == "MODERATOR":
                moderators.append(user_id)
            elif s.role == "OFFICER" and s.region_id is not None:
                region_officer[s.region_id] = user_id
            elif s.role == "OFFICER" and s.agency_id is not None:
                slot = int(s.handle.rsplit(".", 1)[1]) - 1
                dinas[s.agency_id, slot] = user_id
        return cls(
            citizens=citizens,
            staff=staff,
            moderators=np.array(moderators, dtype=np.int64),
            region_officer=region_officer,
            dinas_officers=dinas,
            author_rank=rng.permutation(citizens).astype(np.int64) + 1,
        )

    @property
    def total(self) -> int:
        """All accounts: the app_user row count."""
        return self.citizens + len(self.staff)

    def handle(self, user_id: int) -> str:
        """The login of a user id (assignment notes quote it)."""
        if user_id <= self.citizens:
            return f"u{user_id:07d}"
        return self.staff[user_id - self.citizens - 1].handle

    def pick_authors(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Reporters, heavily skewed as on Qlue/JAKI: floor(C * u^2.2) makes the top 1 % of
        citizens write about 12 % of the reports and the top 10 % about 35 %; a fixed random
        permutation spreads the busy ones over the id range."""
        rank = np.minimum((self.citizens * rng.random(n) ** 2.2).astype(np.int64), self.citizens - 1)
        return self.author_rank[rank]

    def pick_citizens(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Uniformly chosen citizens (voters, commenters)."""
        return rng.integers(1, self.citizens + 1, n, dtype=np.int64)

    def rows(self, rng: np.random.Generator, password_hash: str, joined_before_us: int) -> CopyBuffer:
        """The app_user COPY: citizens joined over the two years before the data starts;
        about 10 % of them gave an email and 5 % a phone number, the rest log in by handle."""
        n, c = self.total, self.citizens
        ids = np.arange(1, n + 1, dtype=np.int64)
        handles = [f"u{i:07d}" for i in range(1, c + 1)] + [s.handle for s in self.staff]
        first = rng.integers(0, len(FIRST_NAMES), c)
        last = rng.integers(0, len(LAST_NAMES), c)
        names = [
            f"{FIRST_NAMES[a]} {LAST_NAMES[b]}" for a, b in zip(first.tolist(), last.tolist(), strict=True)
        ]
        names += [s.name for s in self.staff]
        has_email = rng.random(c) < 0.10
        has_phone = rng.random(c) < 0.05
        emails: list[str | None] = [
            f"{h}@contoh.id" if e else None for h, e in zip(handles, has_email, strict=False)
        ]
        emails += [f"{s.handle}@jakarta.go.id" for s in self.staff]
        phones: list[str | None] = [
            f"+62812{i:08d}" if p else None for i, p in zip(range(1, c + 1), has_phone, strict=True)
        ]
        phones += [None] * len(self.staff)
        roles = ["CITIZEN", "MODERATOR", "OFFICER", "AGENCY_PARTNER", "ADMIN"]
        role_code = np.zeros(n, dtype=np.int64)
        role_code[c:] = [roles.index(s.role) for s in self.staff]
        region = np.zeros(n, dtype=np.int64)
        region[c:] = [s.region_id or 0 for s in self.staff]
        agency = np.zeros(n, dtype=np.int64)
        agency[c:] = [s.agency_id or 0 for s in self.staff]
        two_years = 730 * 86_400 * 1_000_000
        joined = joined_before_us - rng.integers(86_400 * 1_000_000, two_years, n)
        out = CopyBuffer(n)
        out.int4("id", ids)
        out.text("handle", handles)
        out.text("display_name", names)
        out.text("email", emails)
        out.text("phone", phones)
        out.text_codes("password_hash", np.zeros(n, dtype=np.int64), [password_hash])
        out.text_codes("role", role_code, roles)
        out.int4("region_id", region, null=region == 0)
        out.int4("agency_id", agency, null=agency == 0)
        out.timestamptz("created_at", joined)
        return out
