"""Upload cleaning: reporters' locations must never survive into stored media.

Every input is generated here with Pillow (or forged byte by byte), so no binary
fixtures live in the repository and each test states exactly what it feeds in.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageCms, ImageStat

from domain import media
from domain.media import (
    MAX_BYTES,
    MAX_PIXELS,
    THUMB_SIZE,
    MediaRejected,
    StoredImage,
    process_image,
    store_image,
)

GPS_IFD = 0x8825
EXIF_IFD = 0x8769
MAKE, MODEL, ORIENTATION = 0x010F, 0x0110, 0x0112
SECRET_MODEL = "SecretCam X1000"
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b"<rdf:Description>reporter@example.org</rdf:Description></rdf:RDF></x:xmpmeta>"
)


# ---------------------------------------------------------------- builders ---


def photo(size: tuple[int, int] = (64, 48), mode: str = "RGB") -> Image.Image:
    """A smooth two-axis gradient: realistic enough that re-encoding keeps it close."""
    w, h = size
    red = Image.linear_gradient("L").resize((w, h))
    green = Image.linear_gradient("L").rotate(90).resize((w, h))
    blue = Image.new("L", (w, h), 90)
    img = Image.merge("RGB", (red, green, blue))
    if mode == "RGBA":
        img.putalpha(Image.linear_gradient("L").resize((w, h)))
    return img


def gps_exif(orientation: int | None = None) -> Image.Exif:
    """EXIF a phone would write: device, capture time and where the reporter stood."""
    exif = Image.Exif()
    exif[MAKE] = "SecretMaker"
    exif[MODEL] = SECRET_MODEL
    if orientation is not None:
        exif[ORIENTATION] = orientation
    exif.get_ifd(EXIF_IFD)[0x9003] = "2024:05:01 08:15:00"  # DateTimeOriginal
    gps = exif.get_ifd(GPS_IFD)
    gps[1] = "S"  # GPSLatitudeRef
    gps[2] = (6.0, 12.0, 30.0)  # GPSLatitude
    gps[3] = "E"  # GPSLongitudeRef
    gps[4] = (106.0, 49.0, 0.5)  # GPSLongitude
    return exif


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    """Encode with Pillow, as a camera or editing app would."""
    buf = io.BytesIO()
    img.save(buf, format=fmt, **params)
    return buf.getvalue()


def srgb_icc() -> bytes:
    """A genuine ICC profile to embed, so we can prove it does not survive."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def forged_png(width: int, height: int, rows: int = 4) -> bytes:
    """A valid PNG header declaring width x height, with pixel data for only a few rows.

    This is what a decompression bomb looks like to the header parser, at a few
    hundred bytes instead of the gigabytes a decoder would allocate.
    """

    def chunk(tag: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(tag + payload)
        return struct.pack(">I", len(payload)) + tag + payload + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    idat = zlib.compress(b"\x00" * ((width + 1) * min(rows, height)), 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


# ----------------------------------------------------------------- parsers ---


def jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, payload) of every JPEG segment before the scan data: where metadata lives."""
    assert data[:2] == b"\xff\xd8"
    pos, out = 2, []
    while pos < len(data):
        assert data[pos] == 0xFF
        marker = data[pos + 1]
        if marker == 0xDA:  # start of scan: only entropy-coded data follows
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        out.append((marker, data[pos + 4 : pos + 2 + length]))
        pos += 2 + length
    return out


def png_chunks(data: bytes) -> list[bytes]:
    """Chunk types of a PNG file, in order."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, out = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        out.append(data[pos + 4 : pos + 8])
        pos += 12 + length
    return out


def riff_chunks(data: bytes) -> list[bytes]:
    """Top-level chunk FourCCs of a WebP (RIFF) file."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    pos, out = 12, []
    while pos < len(data):
        tag = data[pos : pos + 4]
        (length,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        out.append(tag)
        pos += 8 + length + (length & 1)
    return out


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    """Mean per-channel absolute difference, 0..255."""
    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB"))
    return sum(ImageStat.Stat(diff).mean) / 3


def files_under(root: Path) -> list[Path]:
    """Every regular file below root (temp files included)."""
    return sorted(p for p in root.rglob("*") if p.is_file())


def assert_no_metadata_bytes(data: bytes) -> None:
    """Identifying strings must not appear anywhere in the stored bytes."""
    for needle in (b"Exif", SECRET_MODEL.encode(), b"SecretMaker", b"xmpmeta", b"reporter@"):
        assert needle not in data, needle


# ------------------------------------------------------------------ JPEG ---


def test_jpeg_gps_exif_and_other_metadata_are_stripped(tmp_path: Path) -> None:
    source_img = photo((64, 48))
    data = encode(
        source_img,
        "JPEG",
        quality=95,
        exif=gps_exif(),
        xmp=XMP,
        comment=b"taken by reporter@example.org",
        icc_profile=srgb_icc(),
    )
    # Sanity: the upload really carries what we are about to prove is gone.
    with Image.open(io.BytesIO(data)) as before:
        assert before.getexif()[MODEL] == SECRET_MODEL
        assert before.getexif().get_ifd(GPS_IFD)[1] == "S"
        assert "xmp" in before.info and "comment" in before.info and "icc_profile" in before.info

    stored = store_image(data, tmp_path)
    out = (tmp_path / stored.path).read_bytes()

    assert stored.content_type == "image/jpeg"
    assert (stored.width, stored.height) == (64, 48)
    assert_no_metadata_bytes(out)
    markers = [marker for marker, _ in jpeg_segments(out)]
    assert not [m for m in markers if 0xE1 <= m <= 0xEF], "no APP1..APP15 (EXIF, XMP, ICC...)"
    assert 0xFE not in markers, "no COM comment segment"
    with Image.open(io.BytesIO(out)) as after:
        assert after.format == "JPEG"
        assert after.size == (64, 48)
        assert len(after.getexif()) == 0
        assert after.getexif().get_ifd(GPS_IFD) == {}
        for key in ("exif", "xmp", "comment", "icc_profile"):
            assert key not in after.info
        assert mean_difference(after, source_img) < 4


def test_exif_orientation_is_applied_then_dropped(tmp_path: Path) -> None:
    # Stored 40x20 with red on the left, blue on the right; orientation 6 means
    # "rotate 90 degrees clockwise to display", which puts red on top.
    img = Image.new("RGB", (40, 20), "blue")
    img.paste((255, 0, 0), (0, 0, 20, 20))
    data = encode(img, "JPEG", quality=95, exif=gps_exif(orientation=6))

    stored = store_image(data, tmp_path)
    assert (stored.width, stored.height) == (20, 40)
    with Image.open(tmp_path / stored.path) as after:
        assert after.size == (20, 40)
        assert ORIENTATION not in after.getexif(), "else viewers would rotate it a second time"
        rgb = after.convert("RGB")
    top, bottom = rgb.getpixel((10, 5)), rgb.getpixel((10, 35))
    assert top[0] > 200 and top[2] < 60, top
    assert bottom[2] > 200 and bottom[0] < 60, bottom
    with Image.open(tmp_path / stored.thumb_path) as thumb:
        assert thumb.size == (20, 40), "thumbnail is upright too, and small images are not upscaled"


def test_cmyk_jpeg_is_accepted_as_rgb() -> None:
    data = encode(photo().convert("CMYK"), "JPEG", quality=95)
    clean, _, content_type, width, height = process_image(data)
    assert (content_type, width, height) == ("image/jpeg", 64, 48)
    with Image.open(io.BytesIO(clean)) as after:
        assert after.mode == "RGB"


def test_multi_picture_jpeg_keeps_only_the_primary_picture() -> None:
    primary, second = Image.new("RGB", (32, 24), "red"), Image.new("RGB", (32, 24), "blue")
    data = encode(primary, "MPO", save_all=True, append_images=[second])
    with Image.open(io.BytesIO(data)) as before:
        assert (before.format, before.n_frames) == ("MPO", 2)

    clean, _, content_type, _, _ = process_image(data)
    assert content_type == "image/jpeg"
    assert b"MPF" not in clean
    with Image.open(io.BytesIO(clean)) as after:
        assert (after.format, getattr(after, "n_frames", 1)) == ("JPEG", 1)
        assert after.convert("RGB").getpixel((16, 12))[0] > 200


def test_embedded_icc_profile_is_dropped_but_colours_kept() -> None:
    source_img = photo()
    for icc in (srgb_icc(), b"definitely not an ICC profile"):
        clean, thumb, _, _, _ = process_image(encode(source_img, "PNG", icc_profile=icc))
        assert b"iCCP" not in png_chunks(clean) and b"iCCP" not in png_chunks(thumb)
        with Image.open(io.BytesIO(clean)) as after:
            assert "icc_profile" not in after.info
            assert mean_difference(after, source_img) < 2


# ------------------------------------------------------------- PNG / WebP ---


def test_png_text_exif_and_time_chunks_are_stripped(tmp_path: Path) -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", "reporter@example.org")
    info.add_text("Author", SECRET_MODEL, zip=True)  # zTXt
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())  # iTXt
    info.add(b"tIME", struct.pack(">HBBBBB", 2024, 5, 1, 8, 15, 0))
    source_img = photo(mode="RGBA")
    data = encode(source_img, "PNG", pnginfo=info, exif=gps_exif())
    assert {b"tEXt", b"zTXt", b"iTXt", b"tIME", b"eXIf"} <= set(png_chunks(data))

    stored = store_image(data, tmp_path)
    out = (tmp_path / stored.path).read_bytes()

    assert stored.content_type == "image/png" and stored.path.endswith(".png")
    assert set(png_chunks(out)) <= {b"IHDR", b"IDAT", b"IEND"}
    assert set(png_chunks((tmp_path / stored.thumb_path).read_bytes())) <= {
        b"IHDR",
        b"IDAT",
        b"IEND",
    }
    assert_no_metadata_bytes(out)
    with Image.open(io.BytesIO(out)) as after:
        assert after.mode == "RGBA", "alpha is kept for PNG"
        assert after.tobytes() == source_img.tobytes(), "PNG is lossless: pixels identical"


def test_palette_png_with_transparency_keeps_alpha() -> None:
    img = Image.new("P", (16, 16), 0)
    img.putpalette([255, 0, 0, 0, 0, 255])
    img.paste(1, (8, 0, 16, 16))
    clean, _, _, _, _ = process_image(encode(img, "PNG", transparency=1))
    with Image.open(io.BytesIO(clean)) as after:
        assert after.mode == "RGBA"
        assert after.getpixel((2, 2)) == (255, 0, 0, 255)
        assert after.getpixel((12, 2))[3] == 0


def test_webp_is_accepted_and_stripped(tmp_path: Path) -> None:
    source_img = photo((80, 60))
    data = encode(source_img, "WEBP", quality=95, exif=gps_exif(), xmp=XMP, icc_profile=srgb_icc())
    assert {b"EXIF", b"XMP ", b"ICCP"} <= set(riff_chunks(data))

    stored = store_image(data, tmp_path)
    out = (tmp_path / stored.path).read_bytes()

    assert stored.content_type == "image/webp"
    assert stored.path.endswith(".webp") and stored.thumb_path.endswith("_thumb.webp")
    assert (stored.width, stored.height) == (80, 60)
    assert not {b"EXIF", b"XMP ", b"ICCP"} & set(riff_chunks(out))
    assert_no_metadata_bytes(out)
    with Image.open(io.BytesIO(out)) as after:
        assert after.format == "WEBP"
        assert mean_difference(after, source_img) < 4


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_animated_image_keeps_only_the_first_frame(fmt: str) -> None:
    frames = [Image.new("RGB", (24, 24), colour) for colour in ("red", "lime", "blue")]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100)
    with Image.open(io.BytesIO(data)) as before:
        assert before.n_frames == 3

    clean, thumb, _, _, _ = process_image(data)
    for blob in (clean, thumb):
        with Image.open(io.BytesIO(blob)) as after:
            assert getattr(after, "n_frames", 1) == 1
            red, green, blue = after.convert("RGB").getpixel((12, 12))
            assert red > 200 and green < 60 and blue < 60
    if fmt == "PNG":
        assert not {b"acTL", b"fcTL", b"fdAT"} & set(png_chunks(clean))
    else:
        assert not {b"ANIM", b"ANMF"} & set(riff_chunks(clean))


# -------------------------------------------------------------- rejection ---


def _gif() -> bytes:
    return encode(Image.new("P", (8, 8)), "GIF")


def _bmp() -> bytes:
    return encode(Image.new("RGB", (8, 8)), "BMP")


def _tiff() -> bytes:
    return encode(Image.new("RGB", (8, 8)), "TIFF")


def _pdf() -> bytes:
    return encode(Image.new("RGB", (8, 8)), "PDF")


@pytest.mark.parametrize(
    "make",
    [
        lambda: b"hello",
        lambda: b"",
        lambda: b'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>',
        _gif,
        _bmp,
        _tiff,
        _pdf,
    ],
    ids=["text", "empty", "svg", "gif", "bmp", "tiff", "pdf"],
)
def test_non_jpeg_png_webp_is_rejected(make: Callable[[], bytes], tmp_path: Path) -> None:
    data = make()
    with pytest.raises(MediaRejected, match="not a JPEG, PNG or WebP"):
        store_image(data, tmp_path)
    assert files_under(tmp_path) == []


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_truncated_image_is_rejected(fmt: str, tmp_path: Path) -> None:
    data = encode(photo((200, 150)), fmt)
    with pytest.raises(MediaRejected, match="corrupt or truncated"):
        store_image(data[: len(data) // 2], tmp_path)
    assert files_under(tmp_path) == []


def test_oversized_upload_is_rejected_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded an oversized upload")

    monkeypatch.setattr(media.Image, "open", no_decoding)
    with pytest.raises(MediaRejected, match="too large"):
        process_image(b"\xff\xd8\xff" + bytes(MAX_BYTES - 2))


def test_upload_of_exactly_max_bytes_is_not_rejected_for_size() -> None:
    with pytest.raises(MediaRejected) as excinfo:
        process_image(b"\xff\xd8\xff" + bytes(MAX_BYTES - 3))
    assert "too large" not in str(excinfo.value)


@pytest.mark.parametrize(
    ("width", "height"),
    [
        (8000, MAX_PIXELS // 8000 + 1),  # just over MAX_PIXELS, below Pillow's own warning threshold
        (10_000, 10_000),  # inside Pillow's DecompressionBombWarning band
        (50_000, 50_000),  # past Pillow's DecompressionBombError threshold
    ],
)
def test_decompression_bomb_is_rejected_from_the_header(width: int, height: int, tmp_path: Path) -> None:
    data = forged_png(width, height)
    assert len(data) < 4096, "a bomb is a small file"
    assert width * height > MAX_PIXELS
    filters_before = list(warnings.filters)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(MediaRejected, match="pixels"):
            store_image(data, tmp_path)

    assert files_under(tmp_path) == []
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
    assert warnings.filters == filters_before, "no warning filter leaks out of process_image"


def test_forged_png_helper_builds_real_pngs() -> None:
    # Proves the bomb test feeds a well-formed header, not garbage rejected for another reason.
    clean, _, content_type, width, height = process_image(forged_png(64, 4, rows=4))
    assert (content_type, width, height) == ("image/png", 64, 4)
    with Image.open(io.BytesIO(clean)) as after:
        assert after.getextrema() == (0, 0)


def test_pixel_limit_is_inclusive() -> None:
    # A complete, valid 8000-wide greyscale PNG of exactly MAX_PIXELS, a few dozen KB on disk.
    data = forged_png(8000, MAX_PIXELS // 8000, rows=MAX_PIXELS // 8000)
    _, thumb, content_type, width, height = process_image(data)
    assert (content_type, width * height) == ("image/png", MAX_PIXELS)
    with Image.open(io.BytesIO(thumb)) as t:
        assert t.size == (THUMB_SIZE, round(THUMB_SIZE * height / width))


# ---------------------------------------------------------------- storage ---


def test_store_image_is_content_addressed_and_idempotent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = encode(photo((1000, 600)), "JPEG", quality=90, exif=gps_exif())

    first = store_image(data, tmp_path)
    main, thumb = tmp_path / first.path, tmp_path / first.thumb_path
    assert main.is_file() and thumb.is_file()
    assert hashlib.sha256(main.read_bytes()).hexdigest() == first.sha256
    sha = first.sha256
    assert first.path == f"{sha[:2]}/{sha[2:4]}/{sha}.jpg"
    assert first.thumb_path == f"{sha[:2]}/{sha[2:4]}/{sha}_thumb.jpg"
    assert (first.width, first.height) == (1000, 600)
    with Image.open(thumb) as t:
        assert max(t.size) == THUMB_SIZE and t.size == (320, 192)
        assert len(t.getexif()) == 0
    assert_no_metadata_bytes(thumb.read_bytes())
    stamps = {p: p.stat().st_mtime_ns for p in (main, thumb)}

    def no_rewrite(*args: object) -> None:
        raise AssertionError("an existing content-addressed file was rewritten")

    monkeypatch.setattr(media.os, "replace", no_rewrite)
    second = store_image(data, tmp_path)

    assert second == first
    assert isinstance(second, StoredImage)
    assert {p: p.stat().st_mtime_ns for p in (main, thumb)} == stamps
    assert files_under(tmp_path) == sorted([main, thumb]), "no temp files left behind"
    assert oct(main.stat().st_mode & 0o777) == oct(media.FILE_MODE)


def test_same_pixels_with_different_metadata_dedupe(tmp_path: Path) -> None:
    img = photo()
    plain = store_image(encode(img, "PNG"), tmp_path)
    tagged = store_image(encode(img, "PNG", exif=gps_exif()), tmp_path)
    assert tagged.sha256 == plain.sha256 and tagged.path == plain.path
    assert len(files_under(tmp_path)) == 2


def test_failed_write_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(src: str, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(media.os, "replace", disk_full)
    with pytest.raises(OSError, match="No space"):
        store_image(encode(photo(), "PNG"), tmp_path)
    assert files_under(tmp_path) == []
    assert os.listdir(tmp_path)  # only the hash directories were created


# ------------------------------------------------------------- work bounded by structure ---


def _mpet_profile(stages: int) -> bytes:
    """A v4 RGB display profile whose D2B0 tag is a multi-process-element chain of `stages`
    entries, all one shared 3->3 colour table (a review's proof, session 16)."""

    def s15(x: float) -> bytes:
        return struct.pack(">i", round(x * 65536))

    values: list[float] = []
    for i in range(8):
        r, g, b = (i >> 2) & 1, (i >> 1) & 1, i & 1
        values += [0.4 * r + 0.35 * g + 0.18 * b, 0.2 * r + 0.7 * g + 0.07 * b, 0.02 * r + 0.1 * g + 0.8 * b]
    clut = b"clut" + b"\0" * 4 + struct.pack(">HH", 3, 3) + bytes([2, 2, 2] + [0] * 13)
    clut += struct.pack(f">{len(values)}f", *values)
    first = 16 + 8 * stages
    chain = b"mpet" + b"\0" * 4 + struct.pack(">HHI", 3, 3, stages) + struct.pack(">II", first, len(clut)) * stages
    tags = [(b"D2B0", chain + clut), (b"wtpt", b"XYZ " + b"\0" * 4 + s15(0.9642) + s15(1.0) + s15(0.8249))]
    offset, table, data = 128 + 4 + 12 * len(tags), b"", b""
    for sig, body in tags:
        data += b"\0" * (-(offset + len(data)) % 4)
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    body = struct.pack(">I", len(tags)) + table + data
    header = (struct.pack(">I", 128 + len(body)) + b"lcms" + bytes([4, 0x30, 0, 0]) + b"mntr" + b"RGB " + b"XYZ "
              + b"\0" * 12 + b"acsp" + b"APPL" + b"\0" * 24 + s15(0.9642) + s15(1.0) + s15(0.8249) + b"\0" * 48)  # fmt: skip
    return header + body


def test_a_colour_profile_of_unbounded_work_is_dropped_unread() -> None:
    """A multi-process-element chain of 25,000 stages in a 722-byte PNG held a decoder 48 s
    (LittleCMS samples the whole chain 33^3 times): such a profile, or one too large or with
    too many tags, is dropped without being read, the pixels kept as decoded; a plain one is
    still baked into sRGB."""
    import time

    hostile = _mpet_profile(3_000)
    assert not media.plain_icc(hostile) and media.plain_icc(srgb_icc())
    assert not media.plain_icc(srgb_icc()[:128] + struct.pack(">I", 10**6))  # a tag table past its end
    started = time.process_time()
    _, _, _, width, _ = process_image(encode(photo(), "PNG", icc_profile=hostile))
    assert time.process_time() - started < 1.0 and width == 64  # read, it cost about 3 s


def test_an_exif_too_large_to_parse_is_not_read() -> None:
    """Pillow parses every EXIF entry in Python: a PNG's or WebP's EXIF of 60,000 entries took
    2.1-2.5 s of the interpreter. Beyond JPEG's own segment size the EXIF is not read (the
    picture stays as stored, not turned); within it, it is (test above)."""
    import time

    n = 20_000
    ifd1 = 8 + 2 + 12 * 3 + 4
    ifd0 = (struct.pack("<H", 3) + struct.pack("<HHIHH", 0x0112, 3, 1, 6, 0) + struct.pack("<HHII", 0x8769, 4, 1, ifd1)
            + struct.pack("<HHII", 0x8825, 4, 1, ifd1) + struct.pack("<I", 0))  # fmt: skip
    entries = b"".join(struct.pack("<HHIHH", 0xA000 + i % 0x5000, 3, 1, 1, 0) for i in range(n))
    blob = b"II*\x00" + struct.pack("<I", 8) + ifd0 + struct.pack("<H", n) + entries + struct.pack("<I", 0)
    data = encode(Image.new("RGB", (40, 20), "blue"), "PNG", exif=blob)
    started = time.process_time()
    _, _, _, width, height = process_image(data)
    assert time.process_time() - started < 1.0
    assert (width, height) == (40, 20)  # orientation 6 was not read
