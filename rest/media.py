"""GET /media/<file>: stored photos, each served only to whom its report is shown
(domain/media_access.py decides; this is the HTTP half)."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from domain.media import ALLOWED
from domain.media_access import Access, access, signature_valid

_TYPES = {".jpg": ALLOWED["JPEG"], ".png": ALLOWED["PNG"], ".webp": ALLOWED["WEBP"]}
PUBLIC_MAX_AGE = 300  # seconds a shared cache may keep a public photo after its report is hidden


async def media(request: Request) -> Response:
    settings = request.app.state.settings
    path = request.path_params["path"]
    allowed = await access(path)
    if allowed is Access.PUBLIC:
        cache = f"public, max-age={PUBLIC_MAX_AGE}"
    elif allowed is Access.SIGNED and signature_valid(
        path, request.query_params.get("exp"), request.query_params.get("sig"), settings.secret_key,
        time.time(),
    ):  # fmt: skip
        cache = "private, no-store"
    else:
        return _not_found()
    file = settings.media_root / path
    if not file.is_file():
        return _not_found()
    return FileResponse(file, media_type=_TYPES[file.suffix], headers={"cache-control": cache})


def _not_found() -> Response:
    return PlainTextResponse("Not Found", status_code=404, headers={"cache-control": "no-store"})


routes = [Route("/media/{path:path}", media, methods=["GET", "HEAD"])]
