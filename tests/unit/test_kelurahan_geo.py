"""Region building and point routing (domain/kelurahan.py).

Official-file tests read the polygons from REGIONS_GEOJSON (default: the shared Jakarta
file); it is never copied into the project. Without it they skip, except in CI, where a
missing file is a failure so routing is never silently untested.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from domain.kelurahan import (
    BUILTIN_SOURCE,
    GAP_TOLERANCE_METERS,
    METERS_PER_DEGREE,
    GeoJSONMapping,
    KelurahanRouter,
    RegionRecord,
    builtin_regions,
    regions_from_geojson,
)

DEFAULT_GEOJSON = Path("/work/shared/data/jakarta/kelurahan.geojson")
CODE_RE = re.compile(r"^\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?$")
LEVEL_DEPTH = {"PROVINSI": 1, "KOTA": 2, "KECAMATAN": 3, "KELURAHAN": 4}
JAKARTA_LAT = -6.2

# Landmark coordinates, each checked against the official polygons.
LANDMARKS: list[tuple[str, float, float, str | None]] = [
    ("Monas", -6.1754, 106.8272, "Gambir"),
    ("Masjid Istiqlal", -6.1702, 106.8314, "Pasar Baru"),
    ("Gelora Bung Karno", -6.2183, 106.8018, "Gelora"),
    ("Kota Tua / Taman Fatahillah", -6.1352, 106.8133, "Pinangsia"),
    ("Blok M", -6.2443, 106.8005, "Melawai"),
    ("Pulau Pramuka", -5.7457, 106.6135, "Pulau Panggang"),
    ("Soekarno-Hatta airport (Banten)", -6.1256, 106.6559, None),
]


# --------------------------------------------------------------------------- helpers


def meters_between(geom: BaseGeometry, lat: float, lng: float) -> float:
    """Distance in metres from (lat, lng) to geom, independent of the router's own code."""
    scale_x = METERS_PER_DEGREE * math.cos(math.radians(lat))

    def project(coords: np.ndarray) -> np.ndarray:
        return np.column_stack([coords[:, 0] * scale_x, coords[:, 1] * METERS_PER_DEGREE])

    local = shapely.transform(geom, project)
    return float(local.distance(shapely.Point(lng * scale_x, lat * METERS_PER_DEGREE)))


def square(lng: float, lat: float, size: float) -> dict[str, Any]:
    """GeoJSON square with its south-west corner at (lng, lat)."""
    return shapely.geometry.mapping(shapely.box(lng, lat, lng + size, lat + size))


def kelurahan_of(records: list[RegionRecord]) -> list[RegionRecord]:
    return [r for r in records if r.level == "KELURAHAN"]


def exteriors_ccw(geometry: dict[str, Any]) -> bool:
    """RFC 7946: exterior rings counter-clockwise, holes clockwise."""
    polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    return all(
        shapely.LinearRing(ring).is_ccw == (k == 0) for polygon in polygons for k, ring in enumerate(polygon)
    )


def all_coords(geometry: dict[str, Any]) -> Iterator[float]:
    rings = geometry["coordinates"]
    polygons = [rings] if geometry["type"] == "Polygon" else rings
    for polygon in polygons:
        for ring in polygon:
            for lng, lat in ring:
                yield lng
                yield lat


def check_hierarchy(records: list[RegionRecord]) -> None:
    """Shared structural checks: parents-first order, dotted codes, parents that exist."""
    levels = [LEVEL_DEPTH[r.level] for r in records]
    assert levels == sorted(levels), "records must come parents-first"
    by_code = {r.code: r for r in records}
    assert len(by_code) == len(records), "codes must be unique"
    for r in records:
        assert CODE_RE.match(r.code), r.code
        assert r.code.count(".") == LEVEL_DEPTH[r.level] - 1, r.code
        if r.level == "PROVINSI":
            assert r.parent_code is None
            continue
        parent = by_code[r.parent_code]
        assert LEVEL_DEPTH[parent.level] == LEVEL_DEPTH[r.level] - 1
        assert r.code.startswith(parent.code + ".")


def write_geojson(path: Path, features: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def feature(props: dict[str, Any], geometry: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": props,
        "geometry": geometry or square(106.8, -6.2, 0.01),
    }


OFFICIAL_PROPS = {
    "kode_kemendagri": "31.71.01.1001",
    "kelurahan": "Gambir",
    "kode_kec_kemendagri": "31.71.01",
    "kecamatan": "Gambir",
    "kode_kota_kemendagri": "31.71",
    "kota": "Kota Administrasi Jakarta Pusat",
}


# --------------------------------------------------------------------------- built-in regions


@pytest.fixture(scope="module")
def builtin() -> list[RegionRecord]:
    return builtin_regions()


def test_builtin_counts_and_hierarchy(builtin: list[RegionRecord]) -> None:
    assert Counter(r.level for r in builtin) == {
        "PROVINSI": 1,
        "KOTA": 6,
        "KECAMATAN": 44,
        "KELURAHAN": 267,
    }
    check_hierarchy(builtin)
    assert BUILTIN_SOURCE.startswith("built-in")


def test_builtin_is_deterministic(builtin: list[RegionRecord]) -> None:
    assert builtin_regions() == builtin


def test_builtin_polygons_valid_and_contain_their_centroid(builtin: list[RegionRecord]) -> None:
    for r in builtin:
        assert r.boundary is not None, r.code
        assert r.boundary["type"] in ("Polygon", "MultiPolygon")
        geom = shape(r.boundary)
        assert geom.is_valid and not geom.is_empty, r.code
        assert all(c == round(c, 6) for c in all_coords(r.boundary)), r.code
        assert exteriors_ccw(r.boundary), r.code
        if r.level == "KELURAHAN":
            assert geom.covers(shapely.Point(r.lng, r.lat)), r.code


def test_builtin_centroids_keep_csv_values(builtin: list[RegionRecord]) -> None:
    by_code = {r.code: r for r in builtin}
    assert (by_code["31"].lat, by_code["31"].lng) == (-6.177802, 106.828444)
    assert (by_code["31.01.01.1001"].lat, by_code["31.01.01.1001"].lng) == (-5.733789, 106.590042)


def test_builtin_mainland_cells_do_not_overlap(builtin: list[RegionRecord]) -> None:
    mainland = [shape(r.boundary) for r in kelurahan_of(builtin) if not r.code.startswith("31.01.")]
    assert len(mainland) == 261
    tree = shapely.STRtree(mainland)
    left, right = tree.query(mainland, predicate="intersects")
    pairs = [(i, j) for i, j in zip(left.tolist(), right.tolist(), strict=True) if i < j]
    assert pairs, "neighbouring cells should touch"
    overlap = sum(mainland[i].intersection(mainland[j]).area for i, j in pairs)
    assert overlap * METERS_PER_DEGREE**2 < 1.0  # square metres, over the whole city
    # ...and together they form one roughly city-sized area (~650 km2).
    area_km2 = shapely.union_all(mainland).area * METERS_PER_DEGREE**2 / 1e6
    assert 500 < area_km2 < 800


def test_builtin_islands_are_small_and_local(builtin: list[RegionRecord]) -> None:
    islands = [r for r in kelurahan_of(builtin) if r.code.startswith("31.01.")]
    assert len(islands) == 6
    for r in islands:
        geom = shape(r.boundary)
        assert geom.hausdorff_distance(shapely.Point(r.lng, r.lat)) * METERS_PER_DEGREE < 2_100


def test_builtin_parents_are_unions_of_children(builtin: list[RegionRecord]) -> None:
    by_code = {r.code: r for r in builtin}
    for r in kelurahan_of(builtin):
        point = shapely.Point(r.lng, r.lat)
        code: str | None = r.parent_code
        while code is not None:
            parent = by_code[code]
            assert shape(parent.boundary).covers(point), (r.code, code)
            code = parent.parent_code


def test_builtin_router_routes_each_centroid_home(builtin: list[RegionRecord]) -> None:
    kelurahan = kelurahan_of(builtin)
    router = KelurahanRouter([(i, r.boundary) for i, r in enumerate(kelurahan)])
    assert len(router) == 267
    for i, r in enumerate(kelurahan):
        assert router.locate(r.lat, r.lng) == i, r.code
    assert router.locate(-6.1256, 106.5) is None  # well west of the approximate mask


# --------------------------------------------------------------------------- router rules


def test_router_picks_single_polygon_and_boundary_points() -> None:
    router = KelurahanRouter([(10, square(106.80, -6.20, 0.01)), (20, square(106.81, -6.20, 0.01))])
    assert router.locate(-6.195, 106.805) == 10
    assert router.locate(-6.195, 106.815) == 20
    assert router.locate(-6.20, 106.805) == 10  # on the outer edge: covered counts
    assert router.locate(-6.195, 106.81) == 10  # on the shared edge: both depth 0, lowest id


def test_router_overlap_goes_to_deepest_then_lowest_id() -> None:
    # Exact binary fractions, so the tie below is a real tie.
    x, y, u = 106.75, -6.25, 1 / 64  # u is about 1.7 km

    def cell(x0: float, x1: float) -> dict[str, Any]:
        return shapely.geometry.mapping(shapely.box(x + x0 * u, y, x + x1 * u, y + u))

    a, b = cell(0.0, 1.0), cell(0.75, 1.75)
    router = KelurahanRouter([(7, a), (3, b)])
    mid = y + 0.5 * u
    assert router.locate(mid, x + 0.8 * u) == 7  # 0.2 u inside a, 0.05 u inside b
    assert router.locate(mid, x + 0.95 * u) == 3  # 0.05 u inside a, 0.2 u inside b
    assert router.locate(mid, x + 0.875 * u) == 3  # equally deep: lowest id
    assert KelurahanRouter([(3, b), (7, a)]).locate(mid, x + 0.875 * u) == 3
    assert KelurahanRouter([(30, b), (7, a)]).locate(mid, x + 0.875 * u) == 7


def test_router_gap_tolerance_is_measured_in_metres() -> None:
    router = KelurahanRouter([(1, square(106.80, JAKARTA_LAT, 0.01))])
    east_edge, north_edge = 106.81, JAKARTA_LAT + 0.01
    lat_mid = JAKARTA_LAT + 0.005
    per_m_lng = 1 / (METERS_PER_DEGREE * math.cos(math.radians(lat_mid)))
    per_m_lat = 1 / METERS_PER_DEGREE
    # In raw degrees x 111320, 150.5 m east would look like 149.6 m: metres must be used.
    assert router.locate(lat_mid, east_edge + 149.5 * per_m_lng) == 1
    assert router.locate(lat_mid, east_edge + 150.5 * per_m_lng) is None
    assert router.locate(north_edge + 149.5 * per_m_lat, 106.805) == 1
    assert router.locate(north_edge + 150.5 * per_m_lat, 106.805) is None
    assert GAP_TOLERANCE_METERS == 150


def test_router_gap_goes_to_nearest_polygon() -> None:
    per_m = 1 / (METERS_PER_DEGREE * math.cos(math.radians(JAKARTA_LAT)))
    west = square(106.80, JAKARTA_LAT, 0.01)
    east = square(106.81 + 100 * per_m, JAKARTA_LAT, 0.01)  # a 100 m wide gap
    router = KelurahanRouter([(5, east), (9, west)])
    lat = JAKARTA_LAT + 0.005
    assert router.locate(lat, 106.81 + 30 * per_m) == 9
    assert router.locate(lat, 106.81 + 70 * per_m) == 5


def test_router_hole_is_not_inside() -> None:
    outer = shapely.box(106.80, -6.22, 106.84, -6.18)
    hole = shapely.box(106.81, -6.21, 106.83, -6.19)  # ~2 km across
    router = KelurahanRouter([(4, shapely.geometry.mapping(outer.difference(hole)))])
    assert router.locate(-6.2, 106.82) is None
    assert router.locate(-6.2, 106.8105) == 4  # 55 m into the hole
    assert router.locate(-6.215, 106.805) == 4


@pytest.mark.parametrize(
    ("lat", "lng"),
    [(90.5, 106.8), (-91.0, 106.8), (-6.2, 180.01), (-6.2, -181.0), (math.nan, 106.8)],
)
def test_router_rejects_invalid_coordinates(lat: float, lng: float) -> None:
    router = KelurahanRouter([(1, square(106.80, -6.20, 0.01))])
    with pytest.raises(ValueError):
        router.locate(lat, lng)


def test_router_accepts_world_extremes_and_far_points() -> None:
    router = KelurahanRouter([(1, square(106.80, -6.20, 0.01))])
    assert router.locate(90.0, 180.0) is None
    assert router.locate(-90.0, -180.0) is None
    assert router.locate(0.0, 0.0) is None


def test_router_rejects_bad_geometries() -> None:
    with pytest.raises(ValueError):
        KelurahanRouter([(1, {"type": "Point", "coordinates": [106.8, -6.2]})])
    with pytest.raises(ValueError):
        KelurahanRouter([(1, square(106.8, -6.2, 0.01)), (1, square(106.9, -6.2, 0.01))])
    assert len(KelurahanRouter([])) == 0
    assert KelurahanRouter([]).locate(-6.2, 106.8) is None


# --------------------------------------------------------------------------- GeoJSON mapping


def test_geojson_custom_mapping(tmp_path: Path) -> None:
    props = {"id": "3171010001", "nm": "X", "kec": "317101", "kn": "K", "kt": "3171", "ktn": "T"}
    path = write_geojson(tmp_path / "custom.geojson", [feature(props)])
    mapping = GeoJSONMapping(
        code="id",
        name="nm",
        kecamatan_code="kec",
        kecamatan_name="kn",
        kota_code="kt",
        kota_name="ktn",
        province_code="31",
        province_name="Jakarta",
    )
    records = regions_from_geojson(path, mapping)
    assert [(r.level, r.code, r.name, r.parent_code) for r in records] == [
        ("PROVINSI", "31", "Jakarta", None),
        ("KOTA", "3171", "T", "31"),
        ("KECAMATAN", "317101", "K", "3171"),
        ("KELURAHAN", "3171010001", "X", "317101"),
    ]
    for r in records:
        assert shape(r.boundary).covers(shapely.Point(r.lng, r.lat))


def test_geojson_missing_property_raises(tmp_path: Path) -> None:
    props = {k: v for k, v in OFFICIAL_PROPS.items() if k != "kode_kec_kemendagri"}
    path = write_geojson(tmp_path / "missing.geojson", [feature(props)])
    with pytest.raises(ValueError, match="kode_kec_kemendagri"):
        regions_from_geojson(path)
    with pytest.raises(ValueError, match="no_such_field"):
        regions_from_geojson(path, GeoJSONMapping(code="no_such_field"))


def test_geojson_non_polygon_raises(tmp_path: Path) -> None:
    point = {"type": "Point", "coordinates": [106.8, -6.2]}
    path = write_geojson(tmp_path / "point.geojson", [feature(OFFICIAL_PROPS, point)])
    with pytest.raises(ValueError, match="Point"):
        regions_from_geojson(path)


def test_geojson_inconsistent_or_undotted_raises(tmp_path: Path) -> None:
    other = dict(OFFICIAL_PROPS, kode_kemendagri="31.71.01.1002", kode_kota_kemendagri="31.72")
    path = write_geojson(tmp_path / "bad.geojson", [feature(OFFICIAL_PROPS), feature(other)])
    with pytest.raises(ValueError, match=r"31\.71\.01"):
        regions_from_geojson(path)
    undotted = dict(OFFICIAL_PROPS, kode_kemendagri="3171011001")
    path = write_geojson(tmp_path / "undotted.geojson", [feature(undotted)])
    with pytest.raises(ValueError, match="province_code"):
        regions_from_geojson(path)
    path = write_geojson(tmp_path / "empty.geojson", [])
    with pytest.raises(ValueError):
        regions_from_geojson(path)


# --------------------------------------------------------------------------- official file


@pytest.fixture(scope="module")
def official_path() -> Path:
    path = Path(os.environ.get("REGIONS_GEOJSON") or DEFAULT_GEOJSON)
    if not path.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"official kelurahan polygons not found at {path} (set REGIONS_GEOJSON)")
        pytest.skip(f"official kelurahan polygons not found at {path}")
    return path


@pytest.fixture(scope="module")
def official(official_path: Path) -> list[RegionRecord]:
    return regions_from_geojson(official_path)


@pytest.fixture(scope="module")
def official_kelurahan(official: list[RegionRecord]) -> list[RegionRecord]:
    return kelurahan_of(official)


@pytest.fixture(scope="module")
def official_geoms(official_kelurahan: list[RegionRecord]) -> list[BaseGeometry]:
    return [shape(r.boundary) for r in official_kelurahan]


@pytest.fixture(scope="module")
def router(official_kelurahan: list[RegionRecord]) -> KelurahanRouter:
    return KelurahanRouter([(i, r.boundary) for i, r in enumerate(official_kelurahan)])


def test_official_counts_codes_and_parents(official: list[RegionRecord]) -> None:
    assert Counter(r.level for r in official) == {
        "PROVINSI": 1,
        "KOTA": 6,
        "KECAMATAN": 44,
        "KELURAHAN": 267,
    }
    check_hierarchy(official)
    by_code = {r.code: r for r in official}
    assert by_code["31"].name == "DKI Jakarta"
    assert by_code["31.71"].name == "Kota Administrasi Jakarta Pusat"
    assert by_code["31.74"].name == "Kota Administrasi Jakarta Selatan"
    gambir = next(r for r in official if r.level == "KELURAHAN" and r.name == "Gambir")
    assert gambir.parent_code == "31.71.01"
    assert by_code["31.71.01"].name == "Gambir"


def test_official_geometry_is_valid_rounded_and_centroids_inside(
    official: list[RegionRecord],
) -> None:
    for r in official:
        geom = shape(r.boundary)
        assert geom.is_valid and not geom.is_empty, r.code
        assert geom.covers(shapely.Point(r.lng, r.lat)), r.code
    for r in official:
        assert exteriors_ccw(r.boundary), r.code
    for r in kelurahan_of(official)[:20]:
        assert all(c == round(c, 6) for c in all_coords(r.boundary)), r.code


def test_official_parent_unions_cover_children(official: list[RegionRecord]) -> None:
    by_code = {r.code: shape(r.boundary) for r in official}
    for r in official:
        if r.parent_code is not None:
            parent = by_code[r.parent_code]
            assert parent.covers(shapely.Point(r.lng, r.lat)), (r.code, r.parent_code)


@pytest.mark.parametrize(("landmark", "lat", "lng", "expected"), LANDMARKS)
def test_landmarks(
    router: KelurahanRouter,
    official_kelurahan: list[RegionRecord],
    landmark: str,
    lat: float,
    lng: float,
    expected: str | None,
) -> None:
    found = router.locate(lat, lng)
    assert (official_kelurahan[found].name if found is not None else None) == expected, landmark


def test_overlap_sliver_is_deterministic(
    official_kelurahan: list[RegionRecord], official_geoms: list[BaseGeometry]
) -> None:
    tree = shapely.STRtree(official_geoms)
    left, right = tree.query(official_geoms, predicate="overlaps")
    pairs = [(i, j) for i, j in zip(left.tolist(), right.tolist(), strict=True) if i < j]
    assert pairs, "the official file is known to have overlap slivers"
    _area, i, j = max((official_geoms[i].intersection(official_geoms[j]).area, i, j) for i, j in pairs)
    sliver = official_geoms[i].intersection(official_geoms[j])
    # Among a grid of points in the sliver, take the one most clearly deeper in one polygon.
    minx, miny, maxx, maxy = sliver.bounds
    xs, ys = np.meshgrid(np.linspace(minx, maxx, 60), np.linspace(miny, maxy, 60))
    grid = shapely.points(xs.ravel(), ys.ravel())
    inside = grid[shapely.contains_properly(sliver, grid)]
    others = [g for k, g in enumerate(official_geoms) if k not in (i, j)]
    inside = [p for p in inside if not any(g.covers(p) for g in others)]
    assert inside

    def margin(p: BaseGeometry) -> float:
        depth_i = meters_between(official_geoms[i].boundary, p.y, p.x)
        depth_j = meters_between(official_geoms[j].boundary, p.y, p.x)
        return depth_i - depth_j

    point = max(inside, key=lambda p: abs(margin(p)))
    assert abs(margin(point)) > 0.5
    deeper = i if margin(point) > 0 else j

    pairs_in = [(k, r.boundary) for k, r in enumerate(official_kelurahan)]
    router = KelurahanRouter(pairs_in)
    answers = {router.locate(point.y, point.x) for _ in range(5)}
    answers.add(KelurahanRouter(list(reversed(pairs_in))).locate(point.y, point.x))
    assert answers == {deeper}
    # The tie-break is deterministic for the sliver's own interior point too.
    p = sliver.point_on_surface()
    assert len({router.locate(p.y, p.x) for _ in range(5)}) == 1
    assert router.locate(p.y, p.x) in (i, j)


@pytest.mark.parametrize("side", ["north (coast)", "south", "east", "west"])
def test_five_metres_outside_the_edge_is_still_jakarta(
    router: KelurahanRouter,
    official_kelurahan: list[RegionRecord],
    official_geoms: list[BaseGeometry],
    side: str,
) -> None:
    mainland = [
        (k, g) for k, g in enumerate(official_geoms) if not official_kelurahan[k].code.startswith("31.01.")
    ]
    coords = np.concatenate([shapely.get_coordinates(g) for _, g in mainland])
    axis, pick = {
        "north": (1, np.argmax),
        "south": (1, np.argmin),
        "east": (0, np.argmax),
        "west": (0, np.argmin),
    }[side.split()[0]]
    lng, lat = coords[pick(coords[:, axis])]
    owners = {k for k, g in mainland if g.distance(shapely.Point(lng, lat)) < 1e-9}
    step = 5 / METERS_PER_DEGREE
    if axis == 1:
        lat += step if pick is np.argmax else -step
    else:
        lng += (step if pick is np.argmax else -step) / math.cos(math.radians(lat))
    outside = shapely.Point(lng, lat)
    assert not any(g.covers(outside) for g in official_geoms)
    assert router.locate(lat, lng) in owners


def test_gap_between_kelurahan_routes_to_nearest(
    router: KelurahanRouter, official_geoms: list[BaseGeometry]
) -> None:
    union = shapely.union_all(official_geoms)
    holes = [shapely.Polygon(ring) for part in shapely.get_parts(union) for ring in part.interiors]
    small = [h for h in holes if h.area * METERS_PER_DEGREE**2 < 1_000]
    assert small, "the official file is known to have thin gaps"
    gap = max(small, key=lambda h: h.area).point_on_surface()
    assert not any(g.covers(gap) for g in official_geoms)
    found = router.locate(gap.y, gap.x)
    assert found is not None
    distances = [meters_between(g, gap.y, gap.x) for g in official_geoms]
    assert distances[found] <= min(distances) + 0.01
    assert distances[found] <= GAP_TOLERANCE_METERS


def test_far_out_at_sea_is_not_jakarta(router: KelurahanRouter, official_geoms: list[BaseGeometry]) -> None:
    # 20 km due north of the coast at Ancol, between the coast and Kepulauan Seribu.
    lat, lng = -6.115 + 20_000 / METERS_PER_DEGREE, 106.8272
    assert min(meters_between(g, lat, lng) for g in official_geoms) > 1_000
    assert router.locate(lat, lng) is None


def test_official_router_rejects_invalid_coordinates(router: KelurahanRouter) -> None:
    assert len(router) == 267
    for lat, lng in [(-95.0, 106.8), (-6.2, 200.0), (math.inf, 106.8)]:
        with pytest.raises(ValueError):
            router.locate(lat, lng)


def test_official_centroids_route_home(
    router: KelurahanRouter, official_kelurahan: list[RegionRecord]
) -> None:
    for k, r in enumerate(official_kelurahan):
        assert router.locate(r.lat, r.lng) == k, r.code


def test_official_file_with_wrong_mapping_raises(official_path: Path) -> None:
    with pytest.raises(ValueError, match="kode_bps_kel"):
        regions_from_geojson(official_path, GeoJSONMapping(code="kode_bps_kel"))
