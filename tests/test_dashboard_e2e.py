"""The city dashboard (dashboard/, served at /dashboard/) in headless Chromium against the live
server: the kelurahan map, report points by status, hover and click details, the kota filter on
map and rankings, the live feed (and its resume after a dropped socket), no outside requests,
and screenshots at phone and desktop widths in test-artifacts/.

Needs Debian's `chromium` (/usr/bin/chromium, or CHROMIUM_PATH) and the `playwright` Python
package, which only drives it (never `playwright install`): without them the test is skipped,
or fails when CI=true."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI, wait_until
from tests.helpers import MONAS, citizen, ok, report, staff

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}

# One landmark per kota; the kelurahan each lands in is read from the API's answer.
ISTIQLAL = {"lat": -6.1702, "lng": 106.8312}
BLOK_M = {"lat": -6.2443, "lng": 106.8005}
KOTA_TUA = {"lat": -6.1352, "lng": 106.8133}
TANJUNG_PRIOK = {"lat": -6.1106, "lng": 106.8818}
JATINEGARA = {"lat": -6.2150, "lng": 106.8700}

VERIFY = "mutation($id: ID!) { verifyReport(id: $id) { id status } }"
ASSIGN = "mutation($id: ID!, $a: ID!) { assignReport(id: $id, assigneeId: $a) { id } }"
START = 'mutation($id: ID!) { startProgress(id: $id, note: "Petugas menuju lokasi") { id status } }'
RESOLVE = 'mutation($id: ID!) { resolveReport(id: $id, note: "Sudah diangkut") { id status } }'
KELURAHAN = "{ regions(level: KELURAHAN) { code parent { parent { code } } } }"

# Records every WebSocket the page opens, so the test can drop the live feed's connection.
TRACK_SOCKETS = """
window.__sockets = [];
const Native = window.WebSocket;
window.WebSocket = class extends Native {
  constructor(...args) { super(...args); window.__sockets.push(this); }
};
"""

# Every element that reaches past the viewport's edges, or scrolls sideways inside itself
# (a table in an overflow box still makes the reader scroll sideways); the map's own shapes
# are drawn inside its SVG, which is checked as a whole.
TOO_WIDE = """() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const node of document.body.querySelectorAll("*")) {
    if (node.closest("svg") && node.tagName.toLowerCase() !== "svg") continue;
    const style = getComputedStyle(node);
    if (style.display === "none" || style.visibility === "hidden") continue;
    const r = node.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    const name = node.tagName.toLowerCase() + (node.id ? "#" + node.id : "") +
      (typeof node.className === "string" && node.className ? "." + node.className.split(" ").join(".") : "");
    if (r.left < -0.5 || r.right > width + 0.5) out.push(`${name}: ${Math.round(r.left)}..${Math.round(r.right)}`);
    else if (node.scrollWidth > node.clientWidth + 1 && ["auto", "scroll"].includes(style.overflowX)) {
      out.push(`${name} scrolls sideways: ${node.scrollWidth} > ${node.clientWidth}`);
    }
  }
  return out.slice(0, 20);
}"""

# A screen point inside a kelurahan's shape that no report point covers.
POINT_IN_KELURAHAN = """(code) => {
  const path = document.querySelector(`path.kel[data-code="${code}"]`);
  const svg = path.ownerSVGElement;
  const box = path.getBBox();
  const ctm = path.getScreenCTM();
  for (let i = 1; i < 24; i++) {
    for (let j = 1; j < 24; j++) {
      const p = svg.createSVGPoint();
      p.x = box.x + (box.width * i) / 24;
      p.y = box.y + (box.height * j) / 24;
      if (!path.isPointInFill(p)) continue;
      const s = p.matrixTransform(ctm);
      if (document.elementFromPoint(s.x, s.y) === path) return [s.x, s.y];
    }
  }
  return null;
}"""


def _missing() -> str | None:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "the `playwright` Python package is not installed (pip install playwright)"
    if not Path(CHROMIUM).exists():
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    return None


if _missing() and not IN_CI:  # skip before the app starts; in CI the test fails instead
    pytest.skip(str(_missing()), allow_module_level=True)


def _playwright() -> Any:
    reason = _missing()
    if reason is not None:
        pytest.fail(f"dashboard end-to-end test cannot run: {reason}")
    from playwright.async_api import async_playwright

    return async_playwright


async def _demo_data(client: Any) -> dict[str, Any]:
    """Six reports in five kota: waiting (red), in progress (yellow) and resolved (green)."""
    reporter, _ = await citizen(client)
    moderator, _ = await staff(client, "MODERATOR")
    dlh, dlh_id = await staff(client, "OFFICER", agency_code="DLH")  # sampah goes to DLH

    steps = {
        "verify": lambda rid: ok(client, VERIFY, {"id": rid}, moderator),
        "assign": lambda rid: ok(client, ASSIGN, {"id": rid, "a": dlh_id}, moderator),
        "start": lambda rid: ok(client, START, {"id": rid}, dlh),
        "resolve": lambda rid: ok(client, RESOLVE, {"id": rid}, dlh),
    }

    async def make(location: dict[str, float], description: str, moves: str, status: str) -> dict[str, Any]:
        r = await report(client, reporter, location=location, description=description)
        for move in moves.split():
            await steps[move](r["id"])
        r["status"] = status
        r["verified"] = "verify" in moves
        r["kota"] = ".".join(r["kelurahan"]["code"].split(".")[:2])
        return r

    reports = [
        await make(MONAS, "Sampah menumpuk di trotoar dekat Monas", "verify assign start", "IN_PROGRESS"),
        await make(ISTIQLAL, "Tong sampah penuh di depan Istiqlal", "verify assign resolve", "RESOLVED"),
        await make(BLOK_M, "Sampah berserakan di terminal Blok M", "verify resolve", "RESOLVED"),
        await make(KOTA_TUA, "Sampah di kali dekat Kota Tua", "", "SUBMITTED"),
        await make(TANJUNG_PRIOK, "Sampah di depan stasiun Tanjung Priok", "verify", "VERIFIED"),
        await make(JATINEGARA, "Sampah pasar Jatinegara belum diangkut", "verify start", "IN_PROGRESS"),
    ]
    return {"reporter": reporter, "moderator": moderator, "reports": reports}


async def _open(browser: Any, url: str, viewport: dict[str, int], problems: list[str], **options: Any) -> Any:
    context = await browser.new_context(viewport=viewport, **options)
    page = await context.new_page()
    page.set_default_timeout(10_000)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on(
        "console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
    )
    host = url.split("/")[2]

    def outside(request: Any) -> None:
        if not request.url.startswith((f"http://{host}/", f"ws://{host}/", "data:")):
            problems.append(f"request outside the app: {request.url}")

    page.on("request", outside)
    page.on("websocket", lambda ws: outside(ws))
    return page


async def _ready(page: Any) -> None:
    await page.wait_for_selector("body[data-figures=ready]")
    await page.wait_for_selector("#ranking-table[aria-busy=false]")


async def test_dashboard_end_to_end(app, client, live_url):
    async_playwright = _playwright()
    ARTIFACTS.mkdir(exist_ok=True)
    data = await _demo_data(client)
    reports = data["reports"]
    regions = (await ok(client, KELURAHAN))["regions"]
    assert len(regions) == 267
    hub = app.state.hub
    url = f"http://{live_url}/dashboard/"
    problems: list[str] = []

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = await _open(browser, url, DESKTOP, problems)
            await page.add_init_script(TRACK_SOCKETS)
            sent: list[dict[str, Any]] = []
            page.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(json.loads(frame))))
            subscribers = hub.subscriber_count
            await page.goto(url)
            await _ready(page)

            # The map: every kelurahan as a shape, the reports as points coloured by status.
            assert await page.locator("svg#map path.kel").count() == 267
            assert await page.locator("path.kel.dimmed").count() == 0
            points = page.locator("circle.report-point")
            assert await points.count() == len(reports)
            colours = {
                "SUBMITTED": "waiting",
                "VERIFIED": "waiting",
                "IN_PROGRESS": "progress",
                "RESOLVED": "done",
            }
            fills = {
                "waiting": "rgb(209, 36, 47)",
                "progress": "rgb(240, 180, 0)",
                "done": "rgb(31, 138, 59)",
            }
            for r in reports:
                point = page.locator(f'circle.report-point[data-id="{r["id"]}"]')
                assert await point.get_attribute("data-status") == r["status"]
                group = colours[r["status"]]
                assert f"status-{group}" in (await point.get_attribute("class") or "")
                assert await point.evaluate("c => getComputedStyle(c).fill") == fills[group]

            # Hover and click: a kelurahan's figures, then a report's details.
            monas = reports[0]
            spot = await page.evaluate(POINT_IN_KELURAHAN, monas["kelurahan"]["code"])
            assert spot, "no free point inside the kelurahan"
            await page.mouse.move(*spot)
            tooltip = page.locator("#tooltip")
            await tooltip.wait_for(state="visible")
            text = await tooltip.inner_text()
            assert monas["kelurahan"]["name"] in text and "Laporan terbuka: 1" in text, text
            await page.mouse.click(*spot)
            assert "Skor:" in await page.locator("#detail").inner_text()
            blok_m = reports[2]
            await page.click(f'circle.report-point[data-id="{blok_m["id"]}"]')
            detail = await page.locator("#detail").inner_text()
            assert blok_m["description"] in detail and "Selesai" in detail, detail

            # The five ranking levels, KELURAHAN first: every verified report's kelurahan is
            # listed; with one or two reports each, all are below the default minimum, so they
            # are shown apart, after a heading, without a rank.
            listed = await page.locator("#ranking-table tbody tr.unit-row").evaluate_all(
                "rs => rs.map(r => [r.dataset.kota, r.classList.contains('below-min'), r.querySelector('.rank').textContent])"
            )
            assert len(listed) == len({r["kelurahan"]["code"] for r in reports if r["verified"]})
            assert all(below and rank == "\u2013" for _, below, rank in listed), listed
            rows = await page.locator("#ranking-table tbody tr").evaluate_all("rs => rs.map(r => r.className)")
            assert rows[0] == "below-head" and rows.count("below-head") == 1, rows
            heading = await page.locator("#ranking-table tr.below-head").inner_text()
            assert "terlalu sedikit laporan untuk diperingkat" in heading.lower()
            for level in ("KECAMATAN", "KOTA", "DINAS", "STAFF", "KELURAHAN"):
                await page.click(f'.tab[data-level="{level}"]')
                await page.wait_for_selector(f'#ranking-table[aria-busy=false][data-level="{level}"]')
                assert await page.locator("#ranking-table tbody tr.unit-row").count() >= 1, level

            # Live: a report created through the API shows in the feed and on the map within 2 s.
            await page.wait_for_selector("#live-status[data-state=live]")
            await wait_until(lambda: hub.subscriber_count == subscribers + 1)
            loop = asyncio.get_running_loop()
            started = loop.time()
            fresh = await report(
                client, data["reporter"], location=KOTA_TUA, description="Sampah baru dilaporkan"
            )
            budget = max(0.1, 2.0 - (loop.time() - started))
            item = page.locator(f'.feed-item[data-kind=CREATED][data-report-id="{fresh["id"]}"]')
            await item.wait_for(timeout=budget * 1000)
            await page.wait_for_selector(
                f'circle.report-point[data-id="{fresh["id"]}"]', timeout=budget * 1000
            )
            assert loop.time() - started < 2.0
            assert fresh["description"] in await item.inner_text()
            cursor = await item.get_attribute("data-cursor")
            assert cursor

            # Drop the socket: the page reconnects and resumes after its last cursor, so a report
            # created meanwhile still arrives.
            await page.evaluate("() => window.__sockets.at(-1).close()")
            await wait_until(lambda: hub.subscriber_count == subscribers)
            missed = await report(
                client, data["reporter"], location=JATINEGARA, description="Dibuat saat terputus"
            )
            await page.wait_for_selector(f'.feed-item[data-kind=CREATED][data-report-id="{missed["id"]}"]')
            await page.wait_for_selector("#live-status[data-state=live]")
            resumed = [m for m in sent if m.get("type") == "subscribe"]
            assert len(resumed) >= 2 and "after" not in resumed[0]["payload"]["variables"]
            assert resumed[-1]["payload"]["variables"]["after"] == cursor
            await page.screenshot(path=str(ARTIFACTS / "dashboard-desktop.png"), full_page=True)

            # Choosing a kota: only its kelurahan stay lit, rankings and points are its own.
            kota = monas["kota"]
            in_kota = sum(1 for r in regions if r["parent"]["parent"]["code"] == kota)
            await page.select_option("#f-kota", kota)
            await _ready(page)
            await page.wait_for_selector(f'#ranking-table[data-level=KELURAHAN][data-kota="{kota}"]')
            lit = page.locator("path.kel:not(.dimmed)")
            assert await lit.count() == in_kota
            assert set(await lit.evaluate_all("ps => ps.map(p => p.dataset.kota)")) == {kota}
            assert await page.locator("path.kel.dimmed").count() == 267 - in_kota
            rows = page.locator("#ranking-table tbody tr.unit-row")
            expected = {r["kelurahan"]["name"] for r in reports if r["verified"] and r["kota"] == kota}
            assert set(await rows.evaluate_all("rs => rs.map(r => r.dataset.kota)")) == {kota}
            names = await page.locator("#ranking-table tbody .unit-name").all_inner_texts()
            assert set(names) == expected
            kota_reports = {r["id"] for r in reports if r["kota"] == kota}
            shown = await points.evaluate_all("cs => cs.map(c => c.dataset.id)")
            assert set(shown) == kota_reports
            await page.click('.tab[data-level="KECAMATAN"]')
            await page.wait_for_selector(
                f'#ranking-table[aria-busy=false][data-level=KECAMATAN][data-kota="{kota}"]'
            )
            assert set(await rows.evaluate_all("rs => rs.map(r => r.dataset.kota)")) == {kota}
            assert "kota=" in page.url
            await page.screenshot(path=str(ARTIFACTS / "dashboard-desktop-kota.png"), full_page=True)
            await page.context.close()

            # A phone: everything fits the width; a screenshot of the whole page.
            phone = await _open(
                browser, url, PHONE, problems, is_mobile=True, has_touch=True, device_scale_factor=2
            )
            await phone.goto(url)
            await _ready(phone)
            assert await phone.locator("path.kel").count() == 267
            assert await phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            assert await phone.evaluate(TOO_WIDE) == [], "wider than a 390 px screen"
            # ... on every ranking level (the staff table has the longest names) and with the
            # map coloured by score, the tooltip's "too few reports" line included
            for level in ("STAFF", "DINAS", "KELURAHAN"):
                await phone.click(f'.tab[data-level="{level}"]')
                await phone.wait_for_selector(f'#ranking-table[aria-busy=false][data-level="{level}"]')
                assert await phone.evaluate(TOO_WIDE) == [], level
            cards = phone.locator("#ranking-table tr.unit-row")
            assert await cards.count() >= 1
            box = await cards.first.bounding_box()
            assert box and box["width"] <= PHONE["width"]
            await phone.screenshot(path=str(ARTIFACTS / "dashboard-phone.png"), full_page=True)
            await phone.context.close()
        finally:
            await browser.close()
    assert not problems, problems
