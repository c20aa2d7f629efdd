"""The two links of Warga's e-mails, which work without signing in: confirming an address
(GET, from the verification mail) and one-click unsubscribe (RFC 8058: the mail client POSTs
`List-Unsubscribe=One-Click`; a person opening the link gets a page with a button, so a link
scanner's GET never turns e-mail off)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from domain import notifications_settings as prefs
from domain.errors import BadUserInput
from domain.notifications_texts import page

HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}


async def verify_email(request: Request) -> Response:
    token = request.query_params.get("token", "")
    try:
        await prefs.verify_email(token[:300])
    except BadUserInput:
        return HTMLResponse(page("id", "This link is invalid, expired or already used."), 400, HEADERS)
    language = str((await prefs.settings_of(int(token.split(".", 1)[0])))["language"])
    return HTMLResponse(page(language, "Your e-mail address is confirmed."), 200, HEADERS)


async def unsubscribe(request: Request) -> Response:
    token = request.query_params.get("token", "")[:200]
    if request.method == "GET":
        action = f"?token={token}"
        if not token:
            return HTMLResponse(page("id", "This link is invalid, expired or already used."), 400, HEADERS)
        text = "Turn off e-mail notifications"
        return HTMLResponse(page("id", text, action, text), 200, HEADERS)
    language = await prefs.unsubscribe(token)
    if language is None:
        return HTMLResponse(page("id", "This link is invalid, expired or already used."), 400, HEADERS)
    return HTMLResponse(page(language, "E-mail notifications are off."), 200, HEADERS)


routes = [
    Route("/notifications/verify-email", verify_email, methods=["GET"]),
    Route("/notifications/unsubscribe", unsubscribe, methods=["GET", "POST"]),
]
