"""The dashboard's "Notify me about this area" control in headless Chromium against the live
server: the page registers its service worker, asks the Push API for a subscription with the
server's VAPID key, and the subscription JSON and an area alert for the chosen kota reach the
server; a report verified there then reaches the subscription's receiver.

A headless browser has no push service to talk to (Chrome's is Google's, and the test makes no
outside requests), so PushManager.subscribe is replaced in the page by one that records the key
it was given and returns the JSON of a subscription on the local receiver. Everything after
that (registerPushSubscription, createAreaAlert, the server's encrypted push) is real."""

from __future__ import annotations

import base64
import json

from tests.helpers import MONAS, citizen, ok, report, staff
from tests.notify_receivers import PushReceiver, until
from tests.test_dashboard_e2e import CHROMIUM, CHROMIUM_ARGS, DESKTOP, _open, _playwright, _ready

FAKE_PUSH = """([subscription, token]) => {
  window.__applicationServerKeys = [];
  PushManager.prototype.getSubscription = async function () { return null; };
  PushManager.prototype.subscribe = async function (options) {
    window.__applicationServerKeys.push(Array.from(new Uint8Array(options.applicationServerKey)));
    return { endpoint: subscription.endpoint, toJSON: () => subscription };
  };
  localStorage.setItem("warga.token", token);
}"""


async def test_notify_me_about_this_area(app, client, live_url):
    async_playwright = _playwright()
    vapid = (await ok(client, "{ vapidPublicKey }"))["vapidPublicKey"]
    receiver = await PushReceiver(vapid).start()
    app.state.sender.batch_seconds, saved = 0, app.state.sender.batch_seconds
    problems: list[str] = []
    try:
        token, _ = await citizen(client)
        subscription = receiver.device("browser").subscription()
        located = await ok(client, "{ locate(lat: -6.1754, lng: 106.8272) { parent { parent { code name } } } }")
        kota = located["locate"]["parent"]["parent"]
        url = f"http://{live_url}/dashboard/?kota={kota['code']}"
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                page = await _open(browser, url, DESKTOP, problems, permissions=["notifications"])
                await page.add_init_script(f"({FAKE_PUSH})({json.dumps([subscription, token])})")
                await page.goto(url)
                await _ready(page)
                await page.click("#notify-button")
                await page.wait_for_selector("#notify-area[data-state=on]")
                assert kota["name"] in await page.locator("#notify-status").inner_text()
                keys = await page.evaluate("window.__applicationServerKeys")
                assert keys == [list(base64.urlsafe_b64decode(vapid + "=" * (-len(vapid) % 4)))]
                assert await page.evaluate("navigator.serviceWorker.getRegistration().then(r => !!r && !!r.active)")
                await page.context.close()
            finally:
                await browser.close()
        me = (await ok(client, "{ me { areaAlerts { region { code } radiusMeters } } }", token=token))["me"]
        assert me["areaAlerts"] == [{"region": {"code": kota["code"]}, "radiusMeters": None}]
        # The subscription is real to the server: a report verified in the kota is pushed to it.
        reporter, _ = await citizen(client)
        moderator, _ = await staff(client, "MODERATOR")
        r = await report(client, reporter, location=MONAS)
        await ok(client, "mutation($id: ID!) { verifyReport(id: $id) { id } }", {"id": r["id"]}, moderator)
        await until(lambda: receiver.items("browser"), what="the push to the browser's subscription")
        assert receiver.items("browser")[0]["title"] == f"Laporan baru di {kota['name']}"
    finally:
        app.state.sender.batch_seconds = saved
        await receiver.stop()
    assert not problems, problems
    assert not receiver.problems, receiver.problems
