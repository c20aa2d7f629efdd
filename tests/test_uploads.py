"""Photos through the GraphQL multipart request spec: cleaned, content-addressed, owned."""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image

from tests.helpers import CREATE_REPORT, MONAS, category_id, citizen, error, ok, report, staff

UPLOAD = (
    "mutation($file: Upload!) { uploadMedia(file: $file) { id url thumbnailUrl contentType width height } }"
)


def jpeg_with_gps() -> bytes:
    img = Image.new("RGB", (640, 480), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "PhoneModel 9"  # Model
    gps = exif.get_ifd(0x8825)
    gps[1] = "S"
    gps[2] = (6.0, 10.0, 31.4)
    gps[3] = "E"
    gps[4] = (106.0, 49.0, 37.9)
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    data = buf.getvalue()
    assert b"PhoneModel" in data and Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825)
    return data


def png_bomb() -> bytes:
    """A tiny PNG that declares 50,000 x 50,000 pixels."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", 50_000, 50_000, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


async def upload(client, token, data: bytes, name: str = "photo.jpg", ctype: str = "image/jpeg"):
    resp = await client.post(
        "/graphql",
        data={
            "operations": json.dumps({"query": UPLOAD, "variables": {"file": None}}),
            "map": json.dumps({"0": ["variables.file"]}),
        },
        files={"0": (name, data, ctype)},
        headers={"Authorization": f"Bearer {token}"} if token else {},
    )
    assert resp.status_code in (200, 401), resp.text
    return resp.json()


def stored_files(app) -> list[Path]:
    root = app.state.settings.media_root
    return sorted(p for p in Path(root).rglob("*") if p.is_file())


async def test_jpeg_gps_exif_is_stripped_and_served(app, client):
    token, _ = await citizen(client)
    body = await upload(client, token, jpeg_with_gps())
    assert not body.get("errors"), body
    media = body["data"]["uploadMedia"]
    assert media["contentType"] == "image/jpeg" and (media["width"], media["height"]) == (640, 480)
    served = await client.get(media["url"])
    assert served.status_code == 200
    assert b"PhoneModel" not in served.content and b"Exif" not in served.content
    clean = Image.open(io.BytesIO(served.content))
    assert not clean.getexif() and not clean.getexif().get_ifd(0x8825)
    thumb = Image.open(io.BytesIO((await client.get(media["thumbnailUrl"])).content))
    assert max(thumb.size) <= 320
    # Same picture again: same content address.
    again = (await upload(client, token, jpeg_with_gps()))["data"]["uploadMedia"]
    assert _plain(again["url"]) == _plain(media["url"]) and again["id"] != media["id"]


async def test_bad_uploads_are_refused_and_nothing_is_stored(app, client):
    from models import Media

    token, _ = await citizen(client)
    before_files, before_rows = stored_files(app), await Media.all().count()
    cases = [
        (b"hello, I am text, not a picture", "photo.jpg", "image/jpeg"),
        (b"\xff\xd8\xff" + b"\x00" * (10 * 1024 * 1024 + 10), "big.jpg", "image/jpeg"),
        (png_bomb(), "bomb.png", "image/png"),
        (jpeg_with_gps()[:400], "cut.jpg", "image/jpeg"),
    ]
    for data, name, ctype in cases:
        body = await upload(client, token, data, name, ctype)
        err = body["errors"][0]
        assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": "file"}, (name, err)
    assert stored_files(app) == before_files
    assert await Media.all().count() == before_rows
    body = await upload(client, None, jpeg_with_gps())
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_media_attach_only_by_uploader_on_report_and_proof(client):
    token, _ = await citizen(client)
    other, _ = await citizen(client)
    ids = [(await upload(client, token, jpeg_with_gps()))["data"]["uploadMedia"]["id"] for _ in range(2)]
    payload = {
        "clientRequestId": "with-photo",
        "categoryId": category_id("sampah"),
        "description": "Sampah di trotoar, lihat foto",
        "location": MONAS,
        "mediaIds": ids[:1],
    }
    err = await error(client, CREATE_REPORT, {"input": payload}, other)
    assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": "mediaIds"}
    r = (await ok(client, CREATE_REPORT, {"input": payload}, token))["createReport"]
    media_q = "query($id: ID!) { report(id: $id) { media { id url } } }"
    assert [m["id"] for m in (await ok(client, media_q, {"id": r["id"]}))["report"]["media"]] == ids[:1]
    # Already attached: cannot be attached again.
    again = {**payload, "clientRequestId": "again"}
    err = await error(client, CREATE_REPORT, {"input": again}, token)
    assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": "mediaIds"}

    # Proof of fix: the officer's own upload on the RESOLVED timeline entry.
    moderator, _ = await staff(client, "MODERATOR")
    lurah, _ = await staff(client, "OFFICER", region_code="31.71.01.1001")
    proof = (await upload(client, lurah, jpeg_with_gps()))["data"]["uploadMedia"]["id"]
    target = await report(client, token)
    await ok(client, "mutation($id: ID!) { verifyReport(id: $id) { id } }", {"id": target["id"]}, moderator)
    resolve = """mutation($id: ID!, $m: [ID!]) { resolveReport(id: $id, note: "Sudah bersih", mediaIds: $m) {
      status timeline { to media { id } } } }"""
    err = await error(client, resolve, {"id": target["id"], "m": [ids[1]]}, lurah)
    assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": "mediaIds"}
    done = (await ok(client, resolve, {"id": target["id"], "m": [proof]}, lurah))["resolveReport"]
    assert done["status"] == "RESOLVED" and done["timeline"][-1]["media"] == [{"id": proof}]


def _plain(url: str) -> str:
    return url.split("?", 1)[0]


async def test_media_is_served_only_to_whom_its_report_is_shown(client):
    """A photo is fetched as its report is seen: public while the public sees the report;
    signed for the uploader before it is attached and for the author and staff once the
    report is REJECTED; every other request (no or a bad signature, a guessed or malformed
    name) is the same 404."""
    token, _ = await citizen(client)
    moderator, _ = await staff(client, "MODERATOR")
    media = (await upload(client, token, jpeg_with_gps()))["data"]["uploadMedia"]
    assert "sig=" in media["url"] and "sig=" in media["thumbnailUrl"]
    for url in (media["url"], media["thumbnailUrl"]):
        resp = await client.get(url)
        assert resp.status_code == 200 and resp.headers["cache-control"] == "private, no-store"
        assert (await client.get(_plain(url))).status_code == 404  # not attached: not public yet

    payload = {
        "clientRequestId": "photo-access",
        "categoryId": category_id("sampah"),
        "description": "Sampah menumpuk, foto terlampir",
        "location": MONAS,
        "mediaIds": [media["id"]],
    }
    r = (await ok(client, CREATE_REPORT, {"input": payload}, token))["createReport"]
    q = "query($id: ID!) { report(id: $id) { media { url thumbnailUrl } } }"
    public = (await ok(client, q, {"id": r["id"]}))["report"]["media"][0]
    assert public["url"] == _plain(media["url"])  # the public's URL: plain, the same for all
    resp = await client.get(public["url"])
    assert resp.status_code == 200 and resp.headers["cache-control"].startswith("public, max-age=")
    assert resp.headers["x-content-type-options"] == "nosniff"

    await ok(client, 'mutation($id: ID!) { rejectReport(id: $id, reason: "Iklan") { id } }', {"id": r["id"]}, moderator)
    for url in (public["url"], public["thumbnailUrl"]):
        assert (await client.get(url)).status_code == 404
    for viewer in (token, moderator):  # the author and staff still see the report: signed URLs
        seen = (await ok(client, q, {"id": r["id"]}, viewer))["report"]["media"][0]
        assert seen["url"] != public["url"] and (await client.get(seen["url"])).status_code == 200
    signed = seen["url"]
    path, query = signed.split("?", 1)
    params = dict(p.split("=", 1) for p in query.split("&"))
    forged = [
        f"{path}?exp={params['exp']}&sig={'A' * len(params['sig'])}",
        f"{path}?exp={int(params['exp']) + 3600}&sig={params['sig']}",
        f"{path}?exp=1&sig={params['sig']}",
        f"{path}?exp=x&sig={params['sig']}",
        f"{path}?sig={params['sig']}",
        f"{path.replace('.jpg', '_thumb.jpg')}?{query}",  # a signature is for one file
        "/media/" + "ab/cd/" + "ab" * 32 + ".jpg",
        "/media/../config.py",
        "/media/%2e%2e/%2e%2e/etc/passwd",
        "/media/ab/cd/x.jpg",
        "/media/",
    ]
    for url in forged:
        resp = await client.get(url)
        assert resp.status_code == 404, (url, resp.status_code)


async def test_expired_media_signatures_are_refused() -> None:
    from domain.media_access import SIGNED_FOR, signature_valid, signed_url

    path = "ab/cd/" + "ab" * 32 + ".jpg"
    url = signed_url(path, "k", 1_000_000.0)
    params = dict(p.split("=", 1) for p in url.split("?", 1)[1].split("&"))
    expires = int(params["exp"])
    assert 1_000_000 + SIGNED_FOR <= expires <= 1_000_000 + 2 * SIGNED_FOR
    assert signature_valid(path, params["exp"], params["sig"], "k", expires - 1)
    assert not signature_valid(path, params["exp"], params["sig"], "k", expires + 1)
    assert not signature_valid(path, params["exp"], params["sig"], "other key", expires - 1)
