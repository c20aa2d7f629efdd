"""Uploaded report photos: validate, strip metadata, thumbnail, store by content hash.

Why: citizen reports carry phone photos, and phone photos routinely embed the
reporter's GPS position, device make/serial and capture time. Publishing those
would de-anonymise reporters, so every upload is decoded and re-encoded from its
pixels alone; nothing but the picture is ever written to disk or served.

Choices worth knowing:

* The format is decided by decoding (never by file name or declared content type)
  and only JPEG, PNG and WebP decoders are even tried, which keeps Pillow's other,
  rarely exercised parsers away from untrusted bytes.
* Animated PNG/WebP and multi-picture JPEG (MPO, e.g. phone photos with a depth or
  gain map) are accepted, but only the first frame / primary picture is kept: a
  report needs a still, and re-encoding every frame would multiply the decoding
  cost an attacker can ask for.
* ICC colour profiles are not kept (they can name the device and are metadata like
  any other). An RGB/CMYK image carrying one is first converted to sRGB, so a
  Display-P3 phone photo keeps its colours; if the profile is unusable the pixels
  are kept as decoded and the profile is simply dropped.
* Outputs have the input's format; so does the thumbnail (alpha survives for
  PNG/WebP). JPEG and WebP are re-encoded lossily at quality 85.
* Memory is bounded three ways: pixels per upload (MAX_IMAGE_PIXELS, 24 MP by default:
  a 6000x4000 photo; decoding costs 3-4 bytes per pixel, several times over while the
  picture is converted), decodes in flight per process (IMAGE_DECODES_PER_PROCESS, on a
  thread pool of that size; the others wait their turn) and uploads in flight per user
  (UPLOADS_IN_FLIGHT_PER_USER; more are refused with RATE_LIMITED). JPEGs larger than the
  largest stored side are decoded at a reduced scale (libjpeg's DCT scaling), never in
  full. After the last decode in flight the C allocator is asked to return its free
  memory to the system (glibc keeps freed blocks of large pictures in its arenas, which is
  why a burst of uploads used to hold gigabytes for good).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import functools
import hashlib
import io
import os
import struct
import tempfile
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from domain.errors import BadUserInput, RateLimited, ServiceUnavailable
from domain.tx import now
from models import Media
from telemetry import metrics

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 24_000_000  # default bound of width*height (decompression bombs, memory)
MAX_SIDE = 8192  # longest side kept; larger JPEGs are decoded at a reduced scale
THUMB_SIZE = 320  # longest side of the thumbnail, px
ALLOWED = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}

# A progressive JPEG is decoded scan by scan, each over the whole image, and libjpeg takes a
# bogus progression as a warning: a 136 kB file repeating its last scan 1,000 times held a
# decoder for 19 s, and 10 MB of them for an hour. Encoders write about a dozen at most
# (libjpeg's progression: 10 for colour); an EXIF thumbnail or an MPF picture adds its own.
MAX_JPEG_SCANS = 40
# Pillow reads a JPEG's header (every byte up to the first scan) and a PNG's chunks one by one in
# Python, holding the interpreter: 8 MB of 4-byte JPEG segments took 2.5-3.7 s, 9.6 MB of empty
# PNG chunks 2.9 s, the event loop stalled meanwhile. A camera's header is a few dozen segments;
# a PNG of 10 MB in 1 kB IDAT chunks is 10,000.
MAX_JPEG_MARKERS = 1_000
MAX_PNG_CHUNKS = 20_000
# An embedded colour profile is baked into sRGB only when it is plain: a multi-process-element
# chain (v4's D2Bx/B2Dx tags, type `mpet`) of 25,000 stages in a 722-byte PNG held a decoder 48 s,
# LittleCMS sampling the whole chain 33^3 times. Cameras and phones write matrix/curve or LUT
# profiles of a few kB; any other is dropped, the pixels kept as decoded.
MAX_ICC_BYTES = 1 << 20
MAX_ICC_TAGS = 100
# EXIF is read (for the orientation) only up to JPEG's own segment size: Pillow parses every
# entry in Python, and a PNG's or WebP's EXIF of 60,000 entries took 2.1-2.5 s of the
# interpreter. A larger one is not read: the picture stays as stored.
MAX_EXIF_BYTES = 65_536
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# How long an upload waits for a decoder before it is answered "busy, retry", rather than
# queueing behind every upload ahead of it.
DECODE_WAIT_SECONDS = 20.0

JPEG_QUALITY = 85
WEBP_QUALITY = 85
FILE_MODE = 0o644  # media is served by whatever serves the media root, so world-readable

_EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}
# Pillow's JPEG plugin reports a JPEG with extra MPF pictures as "MPO"; its first
# frame is an ordinary baseline JPEG, which is all we keep.
_FORMAT_ALIASES = {"MPO": "JPEG"}
# Modes each encoder writes faithfully; anything else is converted first.
_KEEP_MODES = {
    "JPEG": frozenset({"L", "RGB"}),
    "PNG": frozenset({"L", "LA", "RGB", "RGBA", "I;16"}),
    "WEBP": frozenset({"RGB", "RGBA"}),
}
# What hostile or broken input makes Pillow raise while parsing headers, EXIF or
# pixel data. All of them mean "not an image we accept", not a server fault.
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # includes UnidentifiedImageError and "image file is truncated"
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    struct.error,
)


class MediaRejected(ValueError):
    """Raised with a human-readable reason when an upload is not an acceptable image."""


@dataclass(frozen=True)
class StoredImage:
    """Where a cleaned upload lives, so reports can reference it by content hash."""

    sha256: str  # hex digest of the CLEANED image bytes (content address)
    content_type: str  # image/jpeg | image/png | image/webp
    width: int
    height: int
    path: str  # relative to media root, e.g. "ab/cd/abcd....jpg"
    thumb_path: str  # relative, e.g. "ab/cd/abcd...._thumb.jpg" (same format as path)


def process_image(data: bytes, max_pixels: int = MAX_PIXELS) -> tuple[bytes, bytes, str, int, int]:
    """Validate + clean: returns (clean_bytes, thumb_bytes, content_type, width, height).

    Pure function of the input bytes, so equal uploads give equal outputs, which is
    what makes content addressing in store_image deduplicate.
    """
    if len(data) > MAX_BYTES:
        raise MediaRejected(
            f"file is too large ({len(data)} bytes); the limit is {MAX_BYTES // (1024 * 1024)} MB"
        )
    fmt, picture = _decode(data, max_pixels)
    # Resized straight from the picture (no full-size copy first); never upscales.
    scale = min(1.0, THUMB_SIZE / max(picture.size))
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    thumb = picture.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0) if scale < 1 else picture
    clean = _encode(picture, fmt)
    width, height = picture.size
    del picture  # the big buffer goes before the thumbnail is encoded
    return clean, _encode(thumb, fmt), ALLOWED[fmt], width, height


def store_image(data: bytes, media_root: Path, max_pixels: int = MAX_PIXELS) -> StoredImage:
    """Clean the upload, then write it and its thumbnail under media_root by content hash.

    Idempotent (an existing file already holds exactly these bytes, so it is not
    rewritten) and atomic (temp file + os.replace), so readers never see a partial
    file. The thumbnail is written first: if the main file exists, so does its thumb.
    """
    clean, thumb, content_type, width, height = process_image(data, max_pixels)
    sha = hashlib.sha256(clean).hexdigest()
    fmt = next(name for name, ctype in ALLOWED.items() if ctype == content_type)
    ext = _EXTENSIONS[fmt]
    folder = f"{sha[:2]}/{sha[2:4]}"
    stored = StoredImage(
        sha256=sha,
        content_type=content_type,
        width=width,
        height=height,
        path=f"{folder}/{sha}{ext}",
        thumb_path=f"{folder}/{sha}_thumb{ext}",
    )
    root = Path(media_root)
    _write_once(root / stored.thumb_path, thumb)
    _write_once(root / stored.path, clean)
    return stored


def jpeg_scans(data: bytes) -> int:
    """At least a JPEG's scans: the start-of-scan marker's two bytes wherever they lie. Inside
    entropy-coded data a 0xFF byte is followed by 0x00 or a restart marker, so no scan is
    missed; a segment's payload may hold the pair by chance (one in 65,536 byte pairs). One
    pass in C, before any pixel is decoded."""
    return data.count(b"\xff\xda")


def jpeg_header(data: bytes, limit: int) -> tuple[int, int]:
    """The steps Pillow's parser takes up to a JPEG's first scan (a junk or fill byte, or a
    segment, each one), counted up to limit + 1 (at most that many steps here), and the bytes
    of EXIF it gathers on the way (every APP1 segment that starts `Exif`, joined)."""
    i, steps, exif, size = 2, 0, 0, len(data)
    while steps <= limit and i + 1 < size:
        steps += 1
        marker = data[i + 1]
        if data[i] != 0xFF or marker == 0xFF:  # junk, skipped byte by byte; or a fill byte
            i += 1
        elif marker in (0xDA, 0xD9):  # the first scan, or the end
            break
        elif marker == 0x00 or marker == 0x01 or 0xD0 <= marker <= 0xD7:  # no length follows
            i += 2
        else:
            length = int.from_bytes(data[i + 2 : i + 4], "big")
            if marker == 0xE1 and data[i + 4 : i + 10] == b"Exif\x00\x00":
                exif += max(0, length - 8)
            i += 2 + length
    return steps, exif


def png_chunks(data: bytes, limit: int) -> int:
    """A PNG's chunks, counted up to limit + 1 (each is 12 bytes and its length)."""
    i, chunks, size = len(PNG_SIGNATURE), 0, len(data)
    while chunks <= limit and i + 8 <= size:
        chunks += 1
        i += 12 + int.from_bytes(data[i : i + 4], "big")
    return chunks


def plain_icc(icc: bytes) -> bool:
    """Whether a colour profile is one to honour (see MAX_ICC_BYTES): small, a bounded tag
    table, no multi-process-element chain by its tag or by its type."""
    if not 132 <= len(icc) <= MAX_ICC_BYTES:
        return False
    count = int.from_bytes(icc[128:132], "big")
    if count > MAX_ICC_TAGS or 132 + 12 * count > len(icc):
        return False
    for i in range(count):
        entry = icc[132 + 12 * i : 144 + 12 * i]
        offset = int.from_bytes(entry[4:8], "big")
        if entry[:3] in (b"D2B", b"B2D") or icc[offset : offset + 4] == b"mpet":
            return False
    return True


def exif_bytes(info: dict[str, Any]) -> int:
    """The size of the EXIF Pillow would parse: its block, or a PNG's hex text of it."""
    return len(info.get("exif") or b"") + len(info.get("Raw profile type exif") or "") // 2


def check_structure(data: bytes) -> None:
    """Refuse, before Pillow sees it, a file whose structure alone would cost unbounded work:
    too many JPEG scans (decoded over the whole image each) or header steps, or PNG chunks
    (both parsed in Python). WebP's are parsed in C."""
    if data[:2] == b"\xff\xd8":
        if jpeg_scans(data) > MAX_JPEG_SCANS:
            raise MediaRejected(f"JPEG has too many scans (the limit is {MAX_JPEG_SCANS})")
        steps, exif = jpeg_header(data, MAX_JPEG_MARKERS)
        if steps > MAX_JPEG_MARKERS:
            raise MediaRejected(f"JPEG header has too many segments (the limit is {MAX_JPEG_MARKERS})")
        if exif > MAX_EXIF_BYTES:  # Pillow joins every EXIF segment and parses them as it opens
            raise MediaRejected(f"JPEG's EXIF is larger than {MAX_EXIF_BYTES} bytes")
    elif data[:8] == PNG_SIGNATURE and png_chunks(data, MAX_PNG_CHUNKS) > MAX_PNG_CHUNKS:
        raise MediaRejected(f"PNG has too many chunks (the limit is {MAX_PNG_CHUNKS})")


def _decode(data: bytes, max_pixels: int = MAX_PIXELS) -> tuple[str, Image.Image]:
    """Decode the first frame into a fresh, upright, metadata-free image.

    Pillow only warns between MAX_IMAGE_PIXELS and twice that; the warning is turned
    into an error for the duration of this call. On Python < 3.14 catch_warnings is
    not thread-safe, which is acceptable here because rejection never depends on it:
    our own MAX_PIXELS check (stricter than Pillow's default) runs on the header size
    before any pixel is decoded. Truncation detection relies on Pillow's default
    ImageFile.LOAD_TRUNCATED_IMAGES = False, which nothing in this project changes.
    """
    check_structure(data)
    try:
        with warnings.catch_warnings():
            # Pillow warns once per bad EXIF tag (130,000 lines in the log for one upload).
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=tuple(ALLOWED)) as img:
                fmt = _FORMAT_ALIASES.get(img.format or "", img.format or "")
                if fmt not in ALLOWED:
                    raise MediaRejected("unsupported image format; upload a JPEG, PNG or WebP")
                width, height = img.size  # from the header: Image.open decodes no pixels
                if width * height > max_pixels:
                    raise MediaRejected(
                        f"image is too large ({width}x{height} pixels); the limit is {max_pixels} pixels"
                    )
                if fmt == "JPEG" and max(width, height) > MAX_SIDE:
                    img.draft(img.mode, (MAX_SIDE, MAX_SIDE))  # DCT-scaled decode: 1/2, 1/4, 1/8
                img.load()  # full decode of the first frame: catches truncation/corruption
                icc = img.info.get("icc_profile")
                upright = img
                if exif_bytes(img.info) <= MAX_EXIF_BYTES:
                    ImageOps.exif_transpose(upright, in_place=True)  # no full-size copy when upright
                if icc and plain_icc(icc):
                    upright = _to_srgb(upright, icc)
                return fmt, _fresh(_normalise_mode(upright, fmt))
    except MediaRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaRejected(f"image has too many pixels (limit {max_pixels})") from exc
    except UnidentifiedImageError as exc:
        raise MediaRejected("not a JPEG, PNG or WebP image") from exc
    except _DECODE_ERRORS as exc:
        raise MediaRejected("image data is corrupt or truncated") from exc


@functools.cache
def _srgb() -> ImageCms.ImageCmsProfile:
    """Built once: every colour-managed upload is converted to this profile."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _to_srgb(img: Image.Image, icc: bytes) -> Image.Image:
    """Bake an embedded colour profile into sRGB pixels, so dropping it keeps the colours."""
    if img.mode not in ("RGB", "RGBA", "CMYK"):
        return img  # grey/palette profiles are rare and near-harmless to drop
    out_mode = "RGBA" if img.mode == "RGBA" else "RGB"
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(img, source, _srgb(), outputMode=out_mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError, ImportError):
        return img  # bogus or mismatched profile: keep decoded pixels, drop the profile
    return converted or img


def _normalise_mode(img: Image.Image, fmt: str) -> Image.Image:
    """Convert to a mode the target encoder writes faithfully, keeping alpha where it can."""
    if img.mode in _KEEP_MODES[fmt]:
        return img
    if fmt != "JPEG" and img.has_transparency_data:
        return img.convert("RGBA")
    if img.mode == "1":
        return img.convert("L")
    return img.convert("RGB")


def _fresh(img: Image.Image) -> Image.Image:
    """Copy pixels only into a new Image, so no info (EXIF, XMP, text, ICC) can reach save()."""
    fresh = Image.new(img.mode, img.size)
    fresh.paste(img)
    return fresh


def _encode(img: Image.Image, fmt: str) -> bytes:
    """Encode without passing any metadata; img must come from _fresh (empty info)."""
    buf = io.BytesIO()
    if fmt == "JPEG":
        img.save(buf, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    elif fmt == "WEBP":
        img.save(buf, format="WEBP", quality=WEBP_QUALITY)
    else:
        img.save(buf, format="PNG")
    return buf.getvalue()


def _write_once(target: Path, payload: bytes) -> None:
    """Write payload to target atomically unless it exists (content-addressed: same bytes)."""
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


# ---------------------------------------------------------------- uploads


def _trim_allocator() -> None:
    """Give the C heap's free pages back to the system (glibc only; elsewhere a no-op)."""
    if _libc is not None:
        with contextlib.suppress(Exception):
            _libc.malloc_trim(0)


def _load_libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return libc if libc is not None and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


_libc = _load_libc()


class Decoder:
    """The process's image decoding: at most `per_process` decodes at a time, on threads of
    its own, and at most `per_user` uploads in flight per user (waiting ones included)."""

    def __init__(self, per_process: int = 2, per_user: int = 2, max_pixels: int = MAX_PIXELS) -> None:
        self.per_process = max(1, per_process)
        self.per_user = max(1, per_user)
        self.max_pixels = max_pixels
        self._pool: ThreadPoolExecutor | None = None
        self._slots: asyncio.Semaphore | None = None
        self._users: Counter[int] = Counter()
        self.in_flight = 0
        self.wait_seconds = DECODE_WAIT_SECONDS  # an attribute, so a test can shorten it

    def _ensure(self) -> tuple[ThreadPoolExecutor, asyncio.Semaphore]:
        if self._pool is None or self._slots is None:
            self._pool = ThreadPoolExecutor(self.per_process, thread_name_prefix="warga-decode")
            self._slots = asyncio.Semaphore(self.per_process)
        return self._pool, self._slots

    async def store(self, user_id: int, data: bytes, media_root: Path) -> StoredImage:
        if self._users[user_id] >= self.per_user:
            raise RateLimited(
                f"At most {self.per_user} uploads of yours are processed at a time; retry when one is done."
            )
        pool, slots = self._ensure()
        self._users[user_id] += 1
        try:
            try:
                async with asyncio.timeout(self.wait_seconds):
                    await slots.acquire()
            except TimeoutError:
                raise ServiceUnavailable(retry_after=max(1, round(self.wait_seconds))) from None
            try:
                self.in_flight += 1
                metrics.UPLOADS_DECODING.inc()
                try:
                    loop = asyncio.get_running_loop()
                    return await loop.run_in_executor(pool, store_image, data, media_root, self.max_pixels)
                finally:
                    self.in_flight -= 1
                    metrics.UPLOADS_DECODING.dec()
                    if self.in_flight == 0:
                        await loop.run_in_executor(pool, _trim_allocator)
            finally:
                slots.release()
        finally:
            self._users[user_id] -= 1
            if self._users[user_id] <= 0:
                del self._users[user_id]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


async def upload(viewer_id: int, data: bytes, media_root: Path, decoder: Decoder | None = None) -> Media:
    """Store a cleaned upload and its row; the decoding runs on the decoder's threads."""
    try:
        if decoder is None:
            stored = await asyncio.to_thread(store_image, data, media_root)
        else:
            stored = await decoder.store(viewer_id, data, media_root)
    except MediaRejected as exc:
        raise BadUserInput("file", str(exc)) from None
    return await Media.create(
        uploader_id=viewer_id,
        sha256=stored.sha256,
        content_type=stored.content_type,
        width=stored.width,
        height=stored.height,
        path=stored.path,
        thumb_path=stored.thumb_path,
        created_at=now(),
    )
