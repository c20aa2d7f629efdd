"""Routing: point -> kelurahan lookups per second, in process, on the official polygons
(or the built-in set), for random points over the city's bounding box and over the mainland.

    .venv/bin/python -m bench.routing [--regions ../shared/data/jakarta/kelurahan.geojson] [--points 200000]
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from bench.common import ROOT, emit, table
from domain.kelurahan import KelurahanRouter, builtin_regions, regions_from_geojson


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    default = ROOT.parent / "shared/data/jakarta/kelurahan.geojson"
    p.add_argument("--regions", default=str(default) if default.exists() else None)
    p.add_argument("--points", type=int, default=200_000)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    records = regions_from_geojson(Path(args.regions)) if args.regions else builtin_regions()
    kel = [(i, r.boundary) for i, r in enumerate(records) if r.level == "KELURAHAN" and r.boundary]
    started = time.perf_counter()
    router = KelurahanRouter(kel)
    build_s = time.perf_counter() - started
    rng = random.Random(args.seed)
    areas = {
        "mainland": (-6.373, 106.686, -6.088, 106.973),
        "province bbox": (-6.373, 106.386, -5.19, 106.973),
    }
    rows = []
    for name, (south, west, north, east) in areas.items():
        pts = [(rng.uniform(south, north), rng.uniform(west, east)) for _ in range(args.points)]
        best = float("inf")
        hits = 0
        for _ in range(3):
            t = time.perf_counter()
            hits = sum(router.locate(lat, lng) is not None for lat, lng in pts)
            best = min(best, time.perf_counter() - t)
        rows.append(
            {
                "area": name,
                "points": args.points,
                "us_per_point": round(best / args.points * 1e6, 2),
                "lookups_per_s": int(args.points / best),
                "inside_pct": round(100 * hits / args.points, 1),
            }
        )
    print(f"router: {len(kel)} kelurahan from {args.regions or 'built-in set'}, built in {build_s:.2f} s")
    print(table(rows, ["area", "points", "us_per_point", "lookups_per_s", "inside_pct"]))
    emit("routing", {"regions": args.regions or "built-in", "build_s": round(build_s, 2), "results": rows,
                     "target_us": 50})  # fmt: skip


if __name__ == "__main__":
    main()
