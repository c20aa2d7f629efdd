"""What a notification says, in the recipient's language: Bahasa Indonesia by default, or
English. The words live in gettext catalogues (domain/locale/<lang>/LC_MESSAGES/warga.po, read
with Babel), not in code, so translators change texts without touching Python."""

from __future__ import annotations

import functools
import html
from dataclasses import dataclass
from pathlib import Path

from babel.messages.pofile import read_po

from domain.catalog import catalog

LANGUAGES = ("id", "en")
DEFAULT_LANGUAGE = "id"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
NOTE_CHARS = 200
EXCERPT_CHARS = 140

# The status names, as msgids (the catalogue translates them).
STATUS_NAMES = {
    "SUBMITTED": "Awaiting verification",
    "VERIFIED": "Verified",
    "REJECTED": "Rejected",
    "DUPLICATE": "Duplicate",
    "IN_PROGRESS": "In progress",
    "RESOLVED": "Resolved",
    "CLOSED": "Closed",
    "REOPENED": "Reopened",
}


@functools.cache
def _messages(language: str) -> dict[str, str]:
    """msgid -> msgstr of one catalogue; read once (the files ship with the code)."""
    with (LOCALE_DIR / language / "LC_MESSAGES" / "warga.po").open("rb") as f:
        po = read_po(f, locale=language)
    return {str(m.id): str(m.string) for m in po if m.id and m.string}


def language_of(value: str | None) -> str:
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


def gettext(language: str, msgid: str, **values: object) -> str:
    text = _messages(language_of(language)).get(msgid, msgid)
    return text % values if values else text


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class Facts:
    """What one notification may say: nothing about the author unless `author` is set, which
    the decision does only when anyone who may see the report may know who wrote it."""

    kind: str  # STATUS | COMMENT | AREA
    report_id: int
    category_id: int
    kelurahan_id: int
    status: str | None = None
    note: str | None = None
    excerpt: str | None = None
    author: str | None = None
    area: str | None = None  # the matched region's name; None for a circle


def _category(language: str, category_id: int) -> str:
    row = catalog().categories.get(category_id)
    if row is None:
        return "?"
    return (row.name_en or row.name) if language == "en" else row.name


def _kelurahan(region_id: int) -> str:
    row = catalog().regions.get(region_id)
    return row.name if row else "?"


def report_url(public_url: str, report_id: int) -> str:
    return f"{public_url}/dashboard/?report={report_id}"


def render(language: str, facts: Facts, public_url: str) -> dict[str, str]:
    """Title, body and link of one notification."""
    lang = language_of(language)
    common = {
        "id": facts.report_id,
        "category": _category(lang, facts.category_id),
        "kelurahan": _kelurahan(facts.kelurahan_id),
    }
    lines: list[str] = []
    if facts.kind == "COMMENT":
        title = gettext(lang, "Official reply on report #%(id)s", **common)
        lines.append(gettext(lang, "%(category)s in %(kelurahan)s: %(excerpt)s", **common,
                             excerpt=_clip(facts.excerpt or "", EXCERPT_CHARS)))  # fmt: skip
    elif facts.kind == "AREA":
        area = facts.area or gettext(lang, "the area you watch")
        title = gettext(lang, "New report in %(area)s", area=area)
        lines.append(gettext(lang, "%(category)s in %(kelurahan)s was verified.", **common))
    else:
        status = gettext(lang, STATUS_NAMES.get(facts.status or "", facts.status or ""))
        title = gettext(lang, "Report #%(id)s: %(status)s", **common, status=status)
        lines.append(
            gettext(lang, '%(category)s in %(kelurahan)s is now "%(status)s".', **common, status=status)
        )
        if facts.note:
            lines.append(gettext(lang, "Officer's note: %(note)s", note=_clip(facts.note, NOTE_CHARS)))
    if facts.author:
        lines.append(gettext(lang, "Reported by %(author)s", author=facts.author))
    return {"title": title, "body": "\n".join(lines), "url": report_url(public_url, facts.report_id)}


def batch_title(language: str, n: int) -> str:
    return gettext(language, "%(n)s updates", n=n)


def email_parts(language: str, payload: dict, unsubscribe_url: str) -> tuple[str, str, str]:
    """Subject, plain text and HTML of a notification e-mail."""
    lang = language_of(language)
    footer = gettext(
        lang, "You receive this e-mail because e-mail notifications are on in your Warga account."
    )
    text = "\n\n".join([
        payload["body"],
        gettext(lang, "Open the report: %(url)s", url=payload["url"]),
        "-- \n" + footer + "\n" + gettext(lang, "Stop these e-mails: %(url)s", url=unsubscribe_url),
    ])  # fmt: skip
    e = html.escape
    body_html = "<br>".join(e(line) for line in payload["body"].split("\n"))
    page = (
        f'<!doctype html><html lang="{lang}"><body><h2>{e(payload["title"])}</h2><p>{body_html}</p>'
        f'<p><a href="{e(payload["url"])}">{e(gettext(lang, "Open the report"))}</a></p>'
        f'<hr><p style="font-size:small;color:#555">{e(footer)} '
        f'<a href="{e(unsubscribe_url)}">{e(gettext(lang, "Stop these e-mails"))}</a></p></body></html>'
    )
    return payload["title"], text, page


def verification_parts(language: str, email: str, link: str) -> tuple[str, str, str]:
    """Subject, plain text and HTML of the e-mail that confirms an address."""
    lang = language_of(language)
    intro = gettext(lang, "Open this link within 24 hours to confirm %(email)s for Warga notifications:",
                    email=email)  # fmt: skip
    ignore = gettext(lang, "If you did not ask for this, ignore this e-mail.")
    text = f"{intro}\n\n{link}\n\n{ignore}"
    e = html.escape
    page = (
        f'<!doctype html><html lang="{lang}"><body><p>{e(intro)}</p>'
        f'<p><a href="{e(link)}">{e(gettext(lang, "Confirm my address"))}</a></p>'
        f"<p>{e(ignore)}</p></body></html>"
    )
    return gettext(lang, "Confirm your e-mail address"), text, page


def page(language: str, message: str, form_action: str | None = None, button: str | None = None) -> str:
    """The small HTML page a link in an e-mail opens (confirmation, unsubscribe)."""
    lang = language_of(language)
    e = html.escape
    form = (
        f'<form method="post" action="{e(form_action)}"><button type="submit">{e(gettext(lang, button))}'
        "</button></form>"
        if form_action and button
        else ""
    )
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>Warga</title>'
        '<meta name="viewport" content="width=device-width"></head>'
        f"<body><p>{e(gettext(lang, message))}</p>{form}</body></html>"
    )
