"""Notifications end to end: the server pushes to a local Web Push receiver (decrypting with
each subscription's private key) and mails a local SMTP server, as it would a browser's push
service and a mail provider; who hears what, in which words, once, and never the actor."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SMTP_PORT
from tests.helpers import MONAS, citizen, error, ok, report, staff
from tests.notify_receivers import MailBox, PushReceiver, until

ROOT = Path(__file__).resolve().parents[1]

REGISTER_PUSH = """mutation($input: PushSubscriptionInput!) {
  registerPushSubscription(input: $input) { id endpoint createdAt } }"""
SETTINGS = """mutation($input: NotificationSettingsInput!) { updateNotificationSettings(input: $input) {
  push email followOnVote followOnComment language } }"""
ALERT = """mutation($input: AreaAlertInput!) { createAreaAlert(input: $input) {
  id region { id name } center { lat lng } radiusMeters categories { code } createdAt } }"""
FOLLOW = "mutation($id: ID!) { followReport(id: $id) { id viewerFollows followerCount } }"
UNFOLLOW = "mutation($id: ID!) { unfollowReport(id: $id) { id viewerFollows followerCount } }"
VERIFY = 'mutation($id: ID!) { verifyReport(id: $id, note: "Laporan valid") { id status } }'
REJECT = 'mutation($id: ID!) { rejectReport(id: $id, reason: "Bukan wewenang") { id status } }'
START = 'mutation($id: ID!) { startProgress(id: $id, note: "Petugas menuju lokasi") { id status } }'
RESOLVE = 'mutation($id: ID!) { resolveReport(id: $id, note: "Sampah sudah diangkut") { id status } }'
COMMENT = "mutation($r: ID!, $b: String!) { addComment(reportId: $r, body: $b) { id isOfficial } }"
VOTE = "mutation($r: ID!) { vote(reportId: $r) { id } }"
ME = "{ me { id emailVerified notificationSettings { push email language } areaAlerts { id } } }"
REQUEST_MAIL = "mutation { requestEmailVerification }"
VERIFY_MAIL = "mutation($t: String!) { verifyEmail(token: $t) { id handle } }"


@pytest.fixture
async def receiver(app) -> AsyncIterator[PushReceiver]:
    key = (await _vapid_key(app))
    r = await PushReceiver(key).start()
    try:
        yield r
    finally:
        await r.stop()
    assert not r.problems, r.problems


async def _vapid_key(app) -> str:
    import httpx

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        return (await ok(c, "{ vapidPublicKey }"))["vapidPublicKey"]


@pytest.fixture(scope="module")
def mailbox() -> Iterator[MailBox]:
    box = MailBox(SMTP_PORT)
    box.controller.start()
    try:
        yield box
    finally:
        box.controller.stop()


@pytest.fixture
def sender(app, mailbox) -> Iterator[Any]:
    """The app's sender, batching within 1 s instead of a minute (restored after)."""
    s = app.state.sender
    saved = (s.batch_seconds, s.max_attempts)
    s.batch_seconds = 1.0
    mailbox.messages.clear()
    try:
        yield s
    finally:
        s.batch_seconds, s.max_attempts = saved


async def device_for(client, receiver: PushReceiver, token: str, name: str) -> None:
    data = await ok(client, REGISTER_PUSH, {"input": receiver.device(name).subscription()}, token)
    assert data["registerPushSubscription"]["endpoint"] == receiver.devices[name].endpoint


async def verified_email(client, mailbox: MailBox, token: str, address: str) -> None:
    """Ask for the link, take it from the captured mail, open it."""
    before = len(mailbox.to(address))
    assert (await ok(client, REQUEST_MAIL, token=token))["requestEmailVerification"] is True
    await until(lambda: len(mailbox.to(address)) > before, what="the verification mail")
    mail = mailbox.to(address)[-1]
    text = mail.get_body(("plain",)).get_content()
    link = re.search(r"http://testserver(/notifications/verify-email\?token=\S+)", text)
    assert link, text
    assert mail["Subject"] == "Konfirmasi alamat e-mail Anda"
    page = await client.get(link.group(1))
    assert page.status_code == 200 and "sudah dikonfirmasi" in page.text
    assert (await ok(client, ME, token=token))["me"]["emailVerified"] is True
    # Single use: the same link again is refused.
    assert (await client.get(link.group(1))).status_code == 400
    err = await error(client, VERIFY_MAIL, {"t": link.group(1).split("token=")[1]})
    assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": "token"}


async def test_the_reporters_walk_with_a_follower_and_an_area_alert(app, client, receiver, mailbox, sender):
    reporter, reporter_id = await citizen(client, "pelapor_walk")
    follower, _ = await citizen(client, "tetangga_walk")
    watcher, _ = await citizen(client, "pemantau_walk")
    moderator, _ = await staff(client, "MODERATOR")
    officer, _ = await staff(client, "OFFICER", agency_code="DLH")  # sampah goes to DLH

    await verified_email(client, mailbox, reporter, "pelapor_walk@example.id")
    for token, name in ((reporter, "reporter"), (follower, "follower"), (watcher, "watcher"),
                        (moderator, "moderator"), (officer, "officer")):  # fmt: skip
        await device_for(client, receiver, token, name)
    circle = {"center": MONAS, "radiusMeters": 1000, "categoryIds": []}
    alert = (await ok(client, ALERT, {"input": circle}, watcher))["createAreaAlert"]
    assert alert["radiusMeters"] == 1000 and alert["region"] is None

    r = await report(client, reporter, location=MONAS)
    rid = r["id"]
    followed = (await ok(client, FOLLOW, {"id": rid}, follower))["followReport"]
    assert followed == {"id": rid, "viewerFollows": True, "followerCount": 1}
    await ok(client, VERIFY, {"id": rid}, moderator)
    await ok(client, START, {"id": rid}, officer)
    comment = (await ok(client, COMMENT, {"r": rid, "b": "Truk sampah dijadwalkan besok pagi."}, officer))
    assert comment["addComment"]["isOfficial"] is True
    await ok(client, RESOLVE, {"id": rid}, officer)

    await until(lambda: len(receiver.items("reporter")) == 4, what="the reporter's four notifications")
    await until(lambda: len(receiver.items("follower")) == 3 and len(receiver.items("watcher")) == 1)
    kelurahan = r["kelurahan"]["name"]
    mine = receiver.items("reporter")
    assert [i["title"] for i in mine] == [
        f"Laporan #{rid}: Terverifikasi",
        f"Laporan #{rid}: Sedang dikerjakan",
        f"Tanggapan resmi untuk laporan #{rid}",
        f"Laporan #{rid}: Selesai",
    ]
    assert mine[0]["body"] == f'Sampah di {kelurahan} kini berstatus "Terverifikasi".\nCatatan petugas: Laporan valid'
    assert mine[1]["body"].endswith("Catatan petugas: Petugas menuju lokasi")
    assert mine[2]["body"] == f"Sampah di {kelurahan}: Truk sampah dijadwalkan besok pagi."
    assert mine[3]["body"].endswith("Catatan petugas: Sampah sudah diangkut")
    assert all(i["reportId"] == rid and i["url"] == f"http://testserver/dashboard/?report={rid}" for i in mine)
    assert not any("Dilaporkan oleh" in i["body"] for i in mine)  # the reporter is not told about themself
    # Several within the batching window arrive as one push saying how many.
    batches = [d.payload for d in receiver.deliveries if d.device == "reporter" and d.payload["kind"] == "BATCH"]
    assert all(b["title"] == f"{b['count']} pembaruan" for b in batches)

    theirs = receiver.items("follower")
    assert [i["title"] for i in theirs] == [f"Laporan #{rid}: {s}" for s in
                                            ("Terverifikasi", "Sedang dikerjakan", "Selesai")]  # fmt: skip
    assert all(i["body"].endswith("Dilaporkan oleh Pelapor_Walk") for i in theirs)
    (area,) = receiver.items("watcher")
    assert area["title"] == "Laporan baru di area yang Anda pantau"
    assert area["body"].startswith(f"Sampah di {kelurahan} telah diverifikasi.")
    # The actors hear nothing of their own moves (the officer follows by commenting, but made
    # every later change themself).
    await asyncio.sleep(1.5)
    assert receiver.items("moderator") == [] and receiver.items("officer") == []
    assert len(receiver.items("reporter")) == 4 and len(receiver.items("follower")) == 3

    # The e-mails: one per notification to the verified address, plain and HTML, one-click unsubscribe.
    await until(lambda: len(mailbox.to("pelapor_walk@example.id")) == 5, what="four notification mails")
    mails = mailbox.to("pelapor_walk@example.id")[1:]
    assert [m["Subject"] for m in mails] == [i["title"] for i in mine]
    first = mails[0]
    assert first.get_body(("html",)) is not None and mine[0]["body"].split("\n")[0] in first.get_body(("plain",)).get_content()
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = first["List-Unsubscribe"].strip("<>").replace("http://testserver", "")
    assert (await client.get(link)).status_code == 200  # a page with a button; GET changes nothing
    assert (await ok(client, ME, token=reporter))["me"]["notificationSettings"]["email"] is True
    done = await client.post(link, content=b"List-Unsubscribe=One-Click",
                             headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert done.status_code == 200 and "dimatikan" in done.text
    assert (await ok(client, ME, token=reporter))["me"]["notificationSettings"]["email"] is False
    assert (await client.post(link.replace("token=", "token=9"))).status_code == 400
    # Quiet when a channel is off: a reopen reaches the device, not the mailbox.
    await ok(client, 'mutation($id: ID!) { confirmResolution(id: $id, rating: 1) { status } }', {"id": rid}, reporter)
    await ok(client, START, {"id": rid}, officer)
    await until(lambda: len(receiver.items("reporter")) == 5)
    await asyncio.sleep(1.0)
    assert len(mailbox.to("pelapor_walk@example.id")) == 5
    assert reporter_id


async def test_anonymous_reports_name_no_author_to_followers(app, client, receiver, sender):
    reporter, _ = await citizen(client, "anonim_pelapor")
    follower, _ = await citizen(client, "anonim_tetangga")
    watcher, _ = await citizen(client, "anonim_pemantau")
    moderator, _ = await staff(client, "MODERATOR")
    for token, name in ((reporter, "reporter"), (follower, "follower"), (watcher, "watcher")):
        await device_for(client, receiver, token, name)
    located = await ok(client, "{ locate(lat: -6.1754, lng: 106.8272) { id parent { id name } } }")
    kecamatan = located["locate"]["parent"]
    await ok(client, ALERT, {"input": {"regionId": kecamatan["id"]}}, watcher)
    r = await report(client, reporter, location=MONAS, anonymous=True)
    await ok(client, FOLLOW, {"id": r["id"]}, follower)
    await ok(client, VERIFY, {"id": r["id"]}, moderator)
    await until(lambda: receiver.items("follower") and receiver.items("watcher") and receiver.items("reporter"))
    for name in ("follower", "watcher", "reporter"):
        (item,) = receiver.items(name)
        text = str(item)
        assert "Anonim_Pelapor" not in text and "anonim_pelapor" not in text and "Dilaporkan oleh" not in text
    (area,) = receiver.items("watcher")
    assert area["title"] == f"Laporan baru di {kecamatan['name']}"


async def test_a_waiting_notification_is_delivered_to_whom_its_recipient_is_by_then(
    app, client, receiver, sender
):
    """A notification waits in the outbox (a push service's 500 here; a batch, a dead letter
    retried by hand): it names no anonymous reporter even to a moderator, and is dropped if its
    recipient may not see the report any more (a moderator demoted to citizen, a report they
    followed rejected meanwhile), as a socket and a replay ask domain.visibility at delivery
    (helper review: the demoted moderator was named the anonymous reporter)."""
    from models import Notification

    reporter, _ = await citizen(client, "pelapor_rahasia")
    moderator, moderator_id = await staff(client, "MODERATOR")
    admin, _ = await staff(client, "ADMIN")
    anonymous = await report(client, reporter, location=MONAS, anonymous=True)
    named = await report(client, reporter, location=MONAS)
    for r in (anonymous, named):
        await ok(client, FOLLOW, {"id": r["id"]}, moderator)
    await device_for(client, receiver, moderator, "m")
    receiver.answer("m", 500)  # the push service hiccups once: the rows are retried later
    await ok(client, VERIFY, {"id": anonymous["id"]}, admin)
    await ok(client, REJECT, {"id": named["id"]}, admin)
    set_role = "mutation($u: ID!) { setUserRole(userId: $u, role: CITIZEN) { id } }"
    await ok(client, set_role, {"u": moderator_id}, admin)
    await until(lambda: receiver.items("m"), timeout=20, what="the retried push")
    pending = Notification.filter(user_id=int(moderator_id), state="pending")
    for _ in range(200):  # the dropped row settles in the same round as the push
        if not await pending.exists():
            break
        await asyncio.sleep(0.05)
    (item,) = receiver.items("m")
    assert item["reportId"] == anonymous["id"], item
    assert "Pelapor_Rahasia" not in str(item) and "Dilaporkan oleh" not in str(item), item
    dropped = await Notification.get(user_id=int(moderator_id), report_id=int(named["id"]))
    assert dropped.state == "dropped" and "may not see" in (dropped.error or ""), dropped.error


async def test_an_anonymous_reports_pushes_keep_a_lane_of_their_own(app, client, receiver, sender):
    """A push to the author about their anonymous report is never held back by the batch window
    of a push they just got under their name (nor holds theirs back): an officer who can push to
    any suspect (an official comment on a suspect's named report, then one on the anonymous
    report) could tell, by a push held back, who wrote it. Order, backoff and batching are kept
    per lane (migration 0018); the named lane still batches."""
    import time

    from models.sql import fetch

    sender.batch_seconds = 4.0
    reporter, _ = await citizen(client, "jalur_pelapor")
    officer, _ = await staff(client, "OFFICER", agency_code="DLH")  # sampah goes to DLH
    await device_for(client, receiver, reporter, "reporter")
    named = await report(client, reporter, location=MONAS)
    hidden = await report(client, reporter, location=MONAS, anonymous=True)
    await ok(client, COMMENT, {"r": named["id"], "b": "Terima kasih, kami cek"}, officer)
    await until(lambda: len(receiver.items("reporter")) == 1)
    started = time.monotonic()
    await ok(client, COMMENT, {"r": hidden["id"], "b": "Kami tindak lanjuti"}, officer)
    await ok(client, COMMENT, {"r": named["id"], "b": "Petugas sudah dijadwalkan"}, officer)
    await until(lambda: any(i["reportId"] == hidden["id"] for i in receiver.items("reporter")))
    assert time.monotonic() - started < 2.0  # at once, not at the window's end
    assert [i["reportId"] for i in receiver.items("reporter")] == [named["id"], hidden["id"]]
    await until(lambda: len(receiver.items("reporter")) == 3, timeout=10)
    assert time.monotonic() - started > 3.0  # the named one waited for its own window
    lanes = await fetch("SELECT report_id, lane FROM notification WHERE report_id IN ($1, $2)",
                        int(named["id"]), int(hidden["id"]))  # fmt: skip
    assert {(str(r["report_id"]), r["lane"]) for r in lanes} == {
        (named["id"], ""), (hidden["id"], f"report:{hidden['id']}")
    }


async def test_one_notification_per_change_per_user_and_none_on_a_report_they_may_not_see(
    app, client, receiver, sender
):
    reporter, _ = await citizen(client)
    other, _ = await citizen(client)
    moderator, _ = await staff(client, "MODERATOR")
    await device_for(client, receiver, reporter, "reporter")
    await device_for(client, receiver, other, "other")
    # The reporter follows their own report and watches its kota and a circle: still one push.
    r = await report(client, reporter, location=MONAS)
    await ok(client, FOLLOW, {"id": r["id"]}, reporter)
    kota = (await ok(client, "{ locate(lat: -6.1754, lng: 106.8272) { parent { parent { id } } } }"))
    await ok(client, ALERT, {"input": {"regionId": kota["locate"]["parent"]["parent"]["id"]}}, reporter)
    await ok(client, ALERT, {"input": {"center": MONAS, "radiusMeters": 50}}, reporter)
    await ok(client, ALERT, {"input": {"center": MONAS, "radiusMeters": 5000}}, other)
    await ok(client, FOLLOW, {"id": r["id"]}, other)
    await ok(client, VERIFY, {"id": r["id"]}, moderator)
    await until(lambda: receiver.items("reporter") and receiver.items("other"))
    await asyncio.sleep(1.0)
    assert len(receiver.items("reporter")) == 1 and len(receiver.items("other")) == 1
    assert receiver.items("other")[0]["title"] == f"Laporan #{r['id']}: Terverifikasi"  # follower beats area

    # A REJECTED report is hidden from everyone but its author and staff: a follower hears nothing.
    r2 = await report(client, reporter, location=MONAS)
    await ok(client, FOLLOW, {"id": r2["id"]}, other)
    await ok(client, REJECT, {"id": r2["id"]}, moderator)
    await until(lambda: len(receiver.items("reporter")) == 2)
    assert receiver.items("reporter")[1]["title"] == f"Laporan #{r2['id']}: Ditolak"
    await asyncio.sleep(1.0)
    assert len(receiver.items("other")) == 1
    # ... and may no longer follow it or see that they do.
    err = await error(client, FOLLOW, {"id": r2["id"]}, other)
    assert err["extensions"]["code"] == "NOT_FOUND"


async def test_english_texts_and_category_filters(app, client, receiver, sender):
    reporter, _ = await citizen(client)
    moderator, _ = await staff(client, "MODERATOR")
    watcher, _ = await citizen(client)
    await ok(client, SETTINGS, {"input": {"language": "en"}}, reporter)
    await device_for(client, receiver, reporter, "reporter")
    await device_for(client, receiver, watcher, "watcher")
    from tests.helpers import category_id

    banjir = {"center": MONAS, "radiusMeters": 2000, "categoryIds": [category_id("banjir")]}
    assert (await ok(client, ALERT, {"input": banjir}, watcher))["createAreaAlert"]["categories"] == [{"code": "banjir"}]
    r = await report(client, reporter, location=MONAS)  # sampah: not what the watcher asked for
    await ok(client, VERIFY, {"id": r["id"]}, moderator)
    await until(lambda: receiver.items("reporter"))
    (item,) = receiver.items("reporter")
    assert item["title"] == f"Report #{r['id']}: Verified"
    assert item["body"].endswith('is now "Verified".\nOfficer\'s note: Laporan valid'), item["body"]
    await asyncio.sleep(1.0)
    assert receiver.items("watcher") == []
    err = await error(client, SETTINGS, {"input": {"language": "fr"}}, reporter)
    assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.language"}


async def test_push_service_500_then_200_delivers_once_after_a_retry(app, client, receiver, sender):
    reporter, _ = await citizen(client)
    moderator, _ = await staff(client, "MODERATOR")
    await device_for(client, receiver, reporter, "phone")
    receiver.answer("phone", 500)
    r = await report(client, reporter, location=MONAS)
    await ok(client, VERIFY, {"id": r["id"]}, moderator)
    await until(lambda: receiver.items("phone"), timeout=20, what="the retried push")
    await asyncio.sleep(1.5)
    assert len(receiver.items("phone")) == 1
    times = [t for name, t in receiver.requests if name == "phone"]
    assert len(times) == 2 and times[1] - times[0] >= 1.5  # backoff


async def test_retry_after_is_honoured_and_dead_letters_can_be_retried(app, client, receiver, sender):
    reporter, _ = await citizen(client)
    moderator, _ = await staff(client, "MODERATOR")
    await device_for(client, receiver, reporter, "phone")
    receiver.answer("phone", 429, retry_after="3")
    r = await report(client, reporter, location=MONAS)
    await ok(client, VERIFY, {"id": r["id"]}, moderator)
    await until(lambda: receiver.items("phone"), timeout=20)
    times = [t for name, t in receiver.requests if name == "phone"]
    assert times[1] - times[0] >= 2.9

    # Always 503: after max_attempts the row is a dead letter; `warga notifications` shows it and
    # `warga notifications retry` sends it again.
    sender.max_attempts = 2
    receiver.answer("phone", 503, 503)
    r2 = await report(client, reporter, location=MONAS)
    await ok(client, VERIFY, {"id": r2["id"]}, moderator)
    await until(lambda: len([n for n, _ in receiver.requests if n == "phone"]) == 4, timeout=20)
    from models import Notification

    for _ in range(100):
        if await Notification.filter(state="failed").count() == 1:
            break
        await asyncio.sleep(0.1)
    assert await Notification.filter(state="failed").count() == 1
    shown = _cli("notifications")
    assert re.search(r"push\s+\d+\s+\d+\s+1\s+", shown), shown
    assert "failed #" in shown and "HTTP 503" in shown
    assert "1 failed notification(s) queued again" in _cli("notifications", "retry")
    from domain.notifications import doorbell

    doorbell.ring()
    await until(lambda: len(receiver.items("phone")) == 2, timeout=20, what="the retried dead letter")


def _cli(*args: str) -> str:
    out = subprocess.run([sys.executable, "-c", "import cli; cli.main()", *args], cwd=ROOT, env=os.environ,
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    return out.stdout


async def test_gone_subscription_is_removed(app, client, receiver, sender):
    from models import PushSubscription

    reporter, _ = await citizen(client)
    moderator, _ = await staff(client, "MODERATOR")
    await device_for(client, receiver, reporter, "old")
    await device_for(client, receiver, reporter, "new")
    receiver.answer("old", 410)
    r = await report(client, reporter, location=MONAS)
    await ok(client, VERIFY, {"id": r["id"]}, moderator)
    await until(lambda: receiver.items("new"))
    for _ in range(50):
        if not await PushSubscription.filter(endpoint=receiver.devices["old"].endpoint).exists():
            break
        await asyncio.sleep(0.1)
    assert not await PushSubscription.filter(endpoint=receiver.devices["old"].endpoint).exists()
    assert await PushSubscription.filter(endpoint=receiver.devices["new"].endpoint).exists()
    requests_before = len(receiver.requests)
    await ok(client, 'mutation($id: ID!) { startProgress(id: $id) { id } }', {"id": r["id"]},
             (await staff(client, "OFFICER", agency_code="DLH"))[0])  # fmt: skip
    await until(lambda: len(receiver.items("new")) == 2)
    assert [n for n, _ in receiver.requests[requests_before:]] == ["new"]


async def test_endpoints_off_the_allowed_hosts_are_refused_and_never_contacted(app, client, receiver):
    token, _ = await citizen(client)
    device = receiver.device("x")
    good = device.subscription()
    port = receiver.port
    refused = [
        f"http://localhost:{port}/push/x",  # the same receiver, by a name not on the list
        f"https://127.0.0.1:{port}/push/x",  # https is not what the entry allows
        "https://evil.example/push",
        "http://10.0.0.1/push",
        "http://169.254.169.254/latest/meta-data/",
        f"http://user:pw@127.0.0.1:{port}/push/x",
        f"http://127.0.0.1.evil.example:{port}/push/x",
        "ftp://127.0.0.1/push",
        "javascript:alert(1)",
        f"http://127.0.0.1:{port}/push/x\r\nX: y",
        "http://127.0.0.1:99999/push",
        "",
        "http://127.0.0.1:1/" + "a" * 1100,
    ]
    for endpoint in refused:
        err = await error(client, REGISTER_PUSH, {"input": {**good, "endpoint": endpoint}}, token)
        assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.endpoint"}, endpoint
    for keys, field in (({"p256dh": "AAAA", "auth": good["keys"]["auth"]}, "input.keys.p256dh"),
                        ({"p256dh": good["keys"]["p256dh"][:-6] + "AAAAAA", "auth": good["keys"]["auth"]}, "input.keys.p256dh"),
                        ({"p256dh": good["keys"]["p256dh"], "auth": "short"}, "input.keys.auth")):  # fmt: skip
        err = await error(client, REGISTER_PUSH, {"input": {**good, "keys": keys}}, token)
        assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    err = await error(client, REGISTER_PUSH, {"input": good})
    assert err["extensions"]["code"] == "UNAUTHENTICATED"
    # The allowed one works; the same endpoint twice is one subscription.
    first = (await ok(client, REGISTER_PUSH, {"input": good}, token))["registerPushSubscription"]
    again = (await ok(client, REGISTER_PUSH, {"input": good}, token))["registerPushSubscription"]
    assert first["id"] == again["id"]
    assert receiver.requests == []
    assert (await ok(client, "mutation($e: String!) { unregisterPushSubscription(endpoint: $e) }",
                     {"e": good["endpoint"]}, token))["unregisterPushSubscription"] is True  # fmt: skip


def test_host_rules():
    from domain.notifications_settings import endpoint_allowed, host_rules

    default = host_rules("fcm.googleapis.com,*.push.services.mozilla.com,*.notify.windows.com")
    assert endpoint_allowed("https://fcm.googleapis.com/fcm/send/abc", default)
    assert endpoint_allowed("https://updates.push.services.mozilla.com/wpush/v2/x", default)
    assert endpoint_allowed("https://fcm.googleapis.com:443/x", default)
    for bad in ("http://fcm.googleapis.com/x", "https://fcm.googleapis.com:8443/x", "https://push.services.mozilla.com/x",
                "https://evilpush.services.mozilla.com/x", "https://fcm.googleapis.com.evil.io/x",
                "https://fcm.googleapis.com@evil.io/x", "https://x.notify.windows.com.evil/x"):  # fmt: skip
        assert not endpoint_allowed(bad, default), bad
    local = host_rules("http://127.0.0.1:*, https://push.example.org:8443")
    assert endpoint_allowed("http://127.0.0.1:5000/p", local)
    assert endpoint_allowed("https://push.example.org:8443/p", local)
    assert not endpoint_allowed("https://push.example.org/p", local)
    assert not endpoint_allowed("http://127.0.0.2:5000/p", local)


async def test_settings_follows_and_alerts_api(app, client):
    token, user_id = await citizen(client)
    other, _ = await citizen(client)
    admin, _ = await staff(client, "ADMIN")
    me = (await ok(client, ME, token=token))["me"]
    assert me["notificationSettings"] == {"push": True, "email": True, "language": "id"}
    assert me["emailVerified"] is False and me["areaAlerts"] == []
    # Another user's settings and alerts are nobody else's business; ADMIN sees emailVerified.
    r = await report(client, token, location=MONAS)
    author_q = "query($id: ID!) { report(id: $id) { author { notificationSettings { push } areaAlerts { id } emailVerified } } }"
    seen = (await ok(client, author_q, {"id": r["id"]}, other))["report"]["author"]
    assert seen == {"notificationSettings": None, "areaAlerts": None, "emailVerified": None}
    seen = (await ok(client, author_q, {"id": r["id"]}, admin))["report"]["author"]
    assert seen == {"notificationSettings": None, "areaAlerts": None, "emailVerified": False}

    # Follows: explicit (idempotent both ways), by voting and by commenting unless turned off.
    detail = "query($id: ID!) { report(id: $id) { viewerFollows followerCount } }"
    assert (await ok(client, detail, {"id": r["id"]}))["report"] == {"viewerFollows": False, "followerCount": 0}
    for _ in range(2):
        assert (await ok(client, FOLLOW, {"id": r["id"]}, other))["followReport"]["followerCount"] == 1
    for _ in range(2):
        assert (await ok(client, UNFOLLOW, {"id": r["id"]}, other))["unfollowReport"] == {
            "id": r["id"], "viewerFollows": False, "followerCount": 0}  # fmt: skip
    await ok(client, VOTE, {"r": r["id"]}, other)
    assert (await ok(client, detail, {"id": r["id"]}, other))["report"] == {"viewerFollows": True, "followerCount": 1}
    third, _ = await citizen(client)
    await ok(client, SETTINGS, {"input": {"followOnComment": False, "followOnVote": False}}, third)
    await ok(client, COMMENT, {"r": r["id"], "b": "saya juga lihat"}, third)
    await ok(client, VOTE, {"r": r["id"]}, third)
    assert (await ok(client, detail, {"id": r["id"]}, third))["report"] == {"viewerFollows": False, "followerCount": 1}
    fourth, _ = await citizen(client)
    await ok(client, COMMENT, {"r": r["id"], "b": "saya juga"}, fourth)
    assert (await ok(client, detail, {"id": r["id"]}, fourth))["report"]["viewerFollows"] is True
    assert (await error(client, FOLLOW, {"id": "999999"}, other))["extensions"]["code"] == "NOT_FOUND"
    assert (await error(client, FOLLOW, {"id": r["id"]}))["extensions"]["code"] == "UNAUTHENTICATED"

    # Area alerts: a region or a circle of 50 m .. 5 km, valid categories, at most 20.
    bad = [
        ({}, "input"),
        ({"regionId": "1", "center": MONAS, "radiusMeters": 100}, "input"),
        ({"center": MONAS, "radiusMeters": 49}, "input.radiusMeters"),
        ({"center": MONAS, "radiusMeters": 5001}, "input.radiusMeters"),
        ({"center": MONAS}, "input.radiusMeters"),
        ({"center": {"lat": 91, "lng": 0}, "radiusMeters": 100}, "input.center"),
        ({"regionId": "999999"}, "input.regionId"),
        ({"center": MONAS, "radiusMeters": 100, "categoryIds": ["999999"]}, "input.categoryIds"),
        ({"center": MONAS, "radiusMeters": 100, "categoryIds": ["x"]}, "input.categoryIds"),
    ]
    for alert, field in bad:
        err = await error(client, ALERT, {"input": alert}, token)
        assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": field}, (alert, err)
    ids = [(await ok(client, ALERT, {"input": {"center": MONAS, "radiusMeters": 100 + i}}, token))["createAreaAlert"]["id"]
           for i in range(20)]  # fmt: skip
    err = await error(client, ALERT, {"input": {"center": MONAS, "radiusMeters": 100}}, token)
    assert err["extensions"]["code"] == "BAD_USER_INPUT" and "20" in err["message"]
    delete = "mutation($id: ID!) { deleteAreaAlert(id: $id) }"
    assert (await error(client, delete, {"id": ids[0]}, other))["extensions"]["code"] == "NOT_FOUND"
    assert (await ok(client, delete, {"id": ids[0]}, token))["deleteAreaAlert"] is True
    assert len((await ok(client, ME, token=token))["me"]["areaAlerts"]) == 19
    assert user_id


async def test_email_verification_rules(app, client, mailbox, sender, monkeypatch):
    token, _ = await citizen(client, "surel_aturan")
    assert (await error(client, REQUEST_MAIL))["extensions"]["code"] == "UNAUTHENTICATED"
    for _ in range(3):
        await ok(client, REQUEST_MAIL, token=token)
    err = await error(client, REQUEST_MAIL, token=token)
    assert err["extensions"]["code"] == "RATE_LIMITED"
    await until(lambda: len(mailbox.to("surel_aturan@example.id")) >= 1)
    await asyncio.sleep(1.0)
    # Only the newest link works: a mail still queued when a newer link was asked for is never
    # sent, and the links of those already sent carry a replaced nonce.
    links = [re.search(r"token=(\S+)", m.get_body(("plain",)).get_content()).group(1)
             for m in mailbox.to("surel_aturan@example.id")]  # fmt: skip
    assert 1 <= len(links) <= 3
    newest = links[-1]
    for bad in ("", "1.2.3", newest + "x", "abc.def.ghi.jkl", newest.replace(".", ".9", 1), *links[:-1]):
        assert (await error(client, VERIFY_MAIL, {"t": bad}))["extensions"] == {"code": "BAD_USER_INPUT", "field": "token"}
    assert (await ok(client, VERIFY_MAIL, {"t": newest}))["verifyEmail"]["handle"] == "surel_aturan"
    # Without SMTP_URL e-mail is off: a clear error, nothing else breaks.
    from config import reset_settings

    no_mail, _ = await citizen(client)
    monkeypatch.delenv("SMTP_URL")
    reset_settings()
    try:
        err = await error(client, REQUEST_MAIL, token=no_mail)
        assert err["extensions"]["code"] == "FORBIDDEN" and "SMTP_URL" in err["message"]
    finally:
        monkeypatch.undo()
        reset_settings()
    # An account without an address has nothing to verify.
    data = await ok(client, """mutation { register(input: {handle: "tanpa_surel", displayName: "T", password: "rahasia-123"}) { token } }""")
    err = await error(client, REQUEST_MAIL, token=data["register"]["token"])
    assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": "email"}
