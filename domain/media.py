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
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import io
import os
import struct
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from domain.errors import BadUserInput
from domain.tx import now
from models import Media

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000  # decompression-bomb bound (width*height)
THUMB_SIZE = 320  # longest side of the thumbnail, px
ALLOWED = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}

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


def process_image(data: bytes) -> tuple[bytes, bytes, str, int, int]:
    """Validate + clean: returns (clean_bytes, thumb_bytes, content_type, width, height).

    Pure function of the input bytes, so equal uploads give equal outputs, which is
    what makes content addressing in store_image deduplicate.
    """
    if len(data) > MAX_BYTES:
        raise MediaRejected(
            f"file is too large ({len(data)} bytes); the limit is {MAX_BYTES // (1024 * 1024)} MB"
        )
    fmt, picture = _decode(data)
    thumb = picture.copy()
    thumb.thumbnail((THUMB_SIZE, THUMB_SIZE), Image.Resampling.LANCZOS)  # never upscales
    return (
        _encode(picture, fmt),
        _encode(thumb, fmt),
        ALLOWED[fmt],
        picture.width,
        picture.height,
    )


def store_image(data: bytes, media_root: Path) -> StoredImage:
    """Clean the upload, then write it and its thumbnail under media_root by content hash.

    Idempotent (an existing file already holds exactly these bytes, so it is not
    rewritten) and atomic (temp file + os.replace), so readers never see a partial
    file. The thumbnail is written first: if the main file exists, so does its thumb.
    """
    clean, thumb, content_type, width, height = process_image(data)
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


def _decode(data: bytes) -> tuple[str, Image.Image]:
    """Decode the first frame into a fresh, upright, metadata-free image.

    Pillow only warns between MAX_IMAGE_PIXELS and twice that; the warning is turned
    into an error for the duration of this call. On Python < 3.14 catch_warnings is
    not thread-safe, which is acceptable here because rejection never depends on it:
    our own MAX_PIXELS check (stricter than Pillow's default) runs on the header size
    before any pixel is decoded. Truncation detection relies on Pillow's default
    ImageFile.LOAD_TRUNCATED_IMAGES = False, which nothing in this project changes.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=tuple(ALLOWED)) as img:
                fmt = _FORMAT_ALIASES.get(img.format or "", img.format or "")
                if fmt not in ALLOWED:
                    raise MediaRejected("unsupported image format; upload a JPEG, PNG or WebP")
                width, height = img.size  # from the header: Image.open decodes no pixels
                if width * height > MAX_PIXELS:
                    raise MediaRejected(
                        f"image is too large ({width}x{height} pixels); the limit is {MAX_PIXELS} pixels"
                    )
                img.load()  # full decode of the first frame: catches truncation/corruption
                icc = img.info.get("icc_profile")
                upright = ImageOps.exif_transpose(img) or img
                if icc:
                    upright = _to_srgb(upright, icc)
                return fmt, _fresh(_normalise_mode(upright, fmt))
    except MediaRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaRejected(f"image has too many pixels (limit {MAX_PIXELS})") from exc
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


async def upload(viewer_id: int, data: bytes, media_root: Path) -> Media:
    """Store a cleaned upload and its row; the decoding runs in a thread, off the event loop."""
    try:
        stored = await asyncio.to_thread(store_image, data, media_root)
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
