"""Who may fetch a stored photo at /media: the photo's report decides, as for the report
itself (domain/visibility.py).

A photo of a report the public sees is public (cacheable for a few minutes, so a report
rejected later stops being served soon). Any other file (a photo of a REJECTED report, of
its resolution proof, or an upload not attached yet) is served only with a signature: the
GraphQL field that showed its URL to a viewer allowed to see it signed that URL, because an
`<img>` cannot send a bearer token. A signed URL is valid for one to two hours (rounded, so
that it stays the same URL, and cacheable in the browser, for an hour). Unknown files,
malformed names and bad or expired signatures are all the same 404: a guess learns nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from enum import Enum

from domain import validate
from domain.visibility import can_see_report
from models.sql import fetch

SIGNED_FOR = 3600  # seconds; a signature's lifetime is between one and two of these
# What store_image writes: <2 hex>/<2 hex>/<sha256>[_thumb].<ext>
FILE_NAME = re.compile(
    r"(?P<a>[0-9a-f]{2})/(?P<b>[0-9a-f]{2})/(?P<sha>[0-9a-f]{64})(?:_thumb)?\.(?:jpg|png|webp)"
)


class Access(Enum):
    PUBLIC = "public"
    SIGNED = "signed"  # served only with a valid signature
    NONE = "none"  # no such file


def _mac(path: str, expires: int, secret: str) -> str:
    digest = hmac.new(secret.encode(), f"media\n{path}\n{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def signed_url(path: str, secret: str, at: float) -> str:
    """The /media URL of a file the viewer may see but the public may not."""
    expires = (int(at) // SIGNED_FOR + 2) * SIGNED_FOR
    return f"/media/{path}?exp={expires}&sig={_mac(path, expires, secret)}"


def signature_valid(path: str, expires: str | None, sig: str | None, secret: str, at: float) -> bool:
    if not expires or not sig or not validate.digits(expires) or len(expires) > 12 or int(expires) < at:
        return False
    return validate.same_secret(sig, _mac(path, int(expires), secret))


async def access(path: str) -> Access:
    """How the file at `path` (relative to the media root) may be served."""
    name = FILE_NAME.fullmatch(path)
    if name is None or name["a"] + name["b"] != name["sha"][:4]:
        return Access.NONE
    rows = await fetch(
        "SELECT m.path, m.thumb_path, r.id, r.status, r.anonymous, r.author_id FROM media m"
        " LEFT JOIN status_change sc ON sc.id = m.status_change_id"
        " LEFT JOIN report r ON r.id = COALESCE(m.report_id, sc.report_id)"
        " WHERE m.sha256 = $1",
        name["sha"],
    )
    rows = [r for r in rows if path in (r["path"], r["thumb_path"])]
    if not rows:
        return Access.NONE
    public = any(r["id"] is not None and can_see_report(None, _Report(r)) for r in rows)
    return Access.PUBLIC if public else Access.SIGNED


class _Report:
    """The columns of a report the visibility rules read."""

    def __init__(self, row: dict) -> None:
        self.id, self.status = row["id"], row["status"]
        self.anonymous, self.author_id = bool(row["anonymous"]), row["author_id"]
