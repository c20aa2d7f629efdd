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
    kel_bounds: np.ndarray
    kel_fill: np.ndarray
    kel_weight: np.ndarray
    parent: np.ndarray
    region_name: np.ndarray
    region_code: dict[int, str]
    kec_ids: np.ndarray
    kota_ids: np.ndarray
    router: KelurahanRouter
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
        regions = await conn.fetch("SELECT id, code, name, level, parent_id, boundary FROM region ORDER BY code")
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
        bounds = shapely.bounds(geoms)
        bbox_area = (bounds[:, 2] - bounds[:, 0]) * (bounds[:, 3] - bounds[:, 1])
        area = shapely.area(geoms)
        # Reports per kelurahan grow with its size, but less than proportionally: the small
        # central kelurahan are the dense, busy ones. sqrt(area) splits the difference between
        # "uniform per kelurahan" and "uniform per km2" (documented in bench/generate.py).
        weight = np.sqrt(area)
        cats = await conn.fetch("SELECT id, code, name, agency_id, sla_hours, share_pct FROM category ORDER BY id")
        if not cats:
            raise SystemExit("no categories: the seed step loaded no reference data")
        share = np.array([max(c["share_pct"], 0.0) for c in cats], dtype=float)
        if share.sum() <= 0:
            share[:] = 1.0
        agencies = await conn.fetch("SELECT id, code, name FROM agency ORDER BY id")
        return cls(
            kel_ids=np.array([i for i, _ in kel], dtype=np.int64),
            kel_geoms=geoms,
            kel_bounds=bounds,
            kel_fill=np.clip(area / np.maximum(bbox_area, 1e-18), 1e-4, 1.0),
            kel_weight=weight / weight.sum(),
            parent=parent,
            region_name=names,
            region_code={r["id"]: r["code"] for r in regions},
            kec_ids=np.array(kec, dtype=np.int64),
            kota_ids=np.array(kota, dtype=np.int64),
            router=KelurahanRouter(kel),
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
        """(lat, lng, kelurahan id) for each requested kelurahan index: a uniform point inside
        its polygon (rejection sampling in the bounding box), rounded to 6 decimals as GPS
        apps send, then routed with the service's own KelurahanRouter, whose answer wins in
        the thin overlaps between neighbouring polygons."""
        n = kel_index.size
        lat = np.empty(n)
        lng = np.empty(n)
        order = np.argsort(kel_index, kind="stable")
        sorted_idx = kel_index[order]
        cuts = np.flatnonzero(np.diff(sorted_idx)) + 1
        for group in np.split(order, cuts):
            if not group.size:
                continue
            k = int(kel_index[group[0]])
            minx, miny, maxx, maxy = self.kel_bounds[k]
            got_x: list[np.ndarray] = []
            got_y: list[np.ndarray] = []
            need = group.size
            while need > 0:
                m = int(need / self.kel_fill[k] * 1.3) + 16
                x = rng.uniform(minx, maxx, m)
                y = rng.uniform(miny, maxy, m)
                inside = shapely.contains_xy(self.kel_geoms[k], x, y)
                got_x.append(x[inside][:need])
                got_y.append(y[inside][:need])
                need -= int(min(inside.sum(), need))
            lng[group] = np.concatenate(got_x)
            lat[group] = np.concatenate(got_y)
        lat = np.round(lat, 6)
        lng = np.round(lng, 6)
        sampled = self.kel_ids[kel_index]
        locate = self.router.locate
        routed = np.fromiter(
            (locate(a, b) or s for a, b, s in zip(lat.tolist(), lng.tolist(), sampled.tolist(), strict=True)),
            dtype=np.int64,
            count=n,
        )
        return lat, lng, routed


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
                staff.append(Staff(f"petugas.{slug}.{i}", f"Petugas {agency_name} {i}"[:80], "OFFICER", None, agency_id))
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
        return self.citizens + len(self.staff)

    def handle(self, user_id: int) -> str:
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

    def rows(
        self, rng: np.random.Generator, password_hash: str, reports_count: np.ndarray, joined_before_us: int
    ) -> CopyBuffer:
        """The app_user COPY: citizens joined over the two years before the data starts;
        about 10 % of them gave an email and 5 % a phone number, the rest log in by handle."""
        n, c = self.total, self.citizens
        ids = np.arange(1, n + 1, dtype=np.int64)
        handles = [f"u{i:07d}" for i in range(1, c + 1)] + [s.handle for s in self.staff]
        first = rng.integers(0, len(FIRST_NAMES), c)
        last = rng.integers(0, len(LAST_NAMES), c)
        names = [f"{FIRST_NAMES[a]} {LAST_NAMES[b]}" for a, b in zip(first.tolist(), last.tolist(), strict=True)]
        names += [s.name for s in self.staff]
        has_email = rng.random(c) < 0.10
        has_phone = rng.random(c) < 0.05
        emails: list[str | None] = [f"{h}@contoh.id" if e else None for h, e in zip(handles, has_email, strict=False)]
        emails += [f"{s.handle}@jakarta.go.id" for s in self.staff]
        phones: list[str | None] = [f"+62812{i:08d}" if p else None for i, p in zip(range(1, c + 1), has_phone, strict=True)]
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
        counts = np.zeros(n, dtype=np.int64)
        known = reports_count[1 : n + 1]
        counts[: known.size] = known
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
        out.int4("reports_count", counts)
        out.timestamptz("created_at", joined)
        return out
