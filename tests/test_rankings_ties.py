"""Float ties through the API: Mangga Besar (6 of 13 reports answered, 1 resolved in time) and
Pasar Baru (10 of 20, 1) score exactly 27.5 each, which floating point computed as
27.500000000000004 and 27.499999999999996 and so ranked the smaller unit first. Equal figures
tie, and the one with more reports comes first; both are served as the same number."""

from __future__ import annotations

from domain.catalog import catalog
from models.enums import RegionLevel
from tests.helpers import CREATE_REPORT, category_id, citizen, ok, staff

VERIFY = "mutation($id: ID!) { verifyReport(id: $id) { id } }"
START = "mutation($id: ID!) { startProgress(id: $id) { id } }"
RESOLVE = 'mutation($id: ID!) { resolveReport(id: $id, note: "Sudah diangkut") { id } }'
RANKINGS = """query($min: Int) { rankings(level: KELURAHAN, minReports: $min) {
  rank belowMinimum unitName score reportsReceived reportsResponded } }"""


def _kelurahan(name: str):
    return next(r for r in catalog().regions.values() if r.level == RegionLevel.KELURAHAN and r.name == name)


async def _unit(client, name: str, received: int, responded: int, resolved: int, tokens) -> None:
    reporter, moderator = tokens
    place = _kelurahan(name)
    kecamatan = catalog().parent(place)
    officer, _ = await staff(client, "OFFICER", region_code=kecamatan.code)  # type: ignore[union-attr]
    for i in range(received):
        made = await ok(
            client,
            CREATE_REPORT,
            {
                "input": {
                    "clientRequestId": f"{name}-{i}",
                    "categoryId": category_id("sampah"),
                    "description": f"Sampah menumpuk nomor {i}",
                    "location": {"lat": place.lat, "lng": place.lng},
                }
            },
            reporter,
        )
        rid = made["createReport"]["id"]
        await ok(client, VERIFY, {"id": rid}, moderator)
        if i < responded:
            await ok(client, START, {"id": rid}, officer)
        if i < resolved:
            await ok(client, RESOLVE, {"id": rid}, officer)


async def test_equal_scores_tie_and_more_reports_come_first(client):
    tokens = ((await citizen(client))[0], (await staff(client, "MODERATOR"))[0])
    await _unit(client, "Mangga Besar", 13, 6, 1, tokens)
    await _unit(client, "Pasar Baru", 20, 10, 1, tokens)
    got = (await ok(client, RANKINGS, {"min": 0}))["rankings"]
    assert [(e["unitName"], e["rank"], e["reportsReceived"]) for e in got] == [
        ("Pasar Baru", 1, 20),
        ("Mangga Besar", 2, 13),
    ]
    assert got[0]["score"] == got[1]["score"] == 27.5
    # With the default minimum for a 90-day KELURAHAN ranking neither is ranked, still listed
    # in the same order.
    default = (await ok(client, RANKINGS, {}))["rankings"]
    assert [(e["unitName"], e["rank"], e["belowMinimum"]) for e in default] == [
        ("Pasar Baru", None, True),
        ("Mangga Besar", None, True),
    ]
    # A minimum between the two ranks the bigger unit alone.
    split = (await ok(client, RANKINGS, {"min": 15}))["rankings"]
    assert [(e["unitName"], e["rank"], e["belowMinimum"]) for e in split] == [
        ("Pasar Baru", 1, False),
        ("Mangga Besar", None, True),
    ]
