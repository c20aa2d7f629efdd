"""Delivering the outbox after commit: Web Push (RFC 8030 delivery, RFC 8291 aes128gcm payload
encryption and RFC 8292 VAPID, through pywebpush / http-ece / py-vapid) and e-mail (aiosmtplib).

Every server process runs one Sender. A round claims due rows in a short transaction
(`FOR UPDATE SKIP LOCKED` on PostgreSQL, so processes never take the same row; SQLite has one
process) by moving their `due_at` a lease ahead, sends, then marks them. A process that dies
mid-round leaves its rows pending: when the lease runs out another process claims them, so a
crash delays a notification but never loses it; nothing is marked sent before the push service
or the mail server accepted it. (A crash in the instant between that acceptance and the mark
can repeat it: each push carries a stable `Topic` and ids, each e-mail a stable Message-ID,
for the receiving side to fold repeats.)

Order and batching, per user and channel: a row is not claimed while an older one of the same
user and channel is waiting (backoff, lease, batching), so retries never reorder; a push to a
user who got one less than NOTIFY_BATCH_SECONDS ago waits until then, and everything that
gathered meanwhile goes as one push ("3 updates"). 429 and 5xx are retried with exponential
backoff honouring Retry-After; after NOTIFY_MAX_ATTEMPTS the row is `failed` (the dead letters
`warga notifications retry` puts back); 404 and 410 remove the subscription.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

import aiohttp
import aiosmtplib
from py_vapid import Vapid
from pywebpush import WebPusher
from tortoise.transactions import in_transaction

from config import Settings
from domain import notifications_settings as prefs
from domain import validate
from domain.auth import Viewer
from domain.notifications import doorbell, switched_on
from domain.notifications_texts import batch_title, email_parts, language_of, verification_parts
from domain.visibility import can_see_report
from models import PushSubscription
from models.sql import arg, execute, fetch, fetch_models, in_list, is_postgres

log = logging.getLogger("warga.notifications")

CLAIM = 200
PUSH_TTL = 24 * 3600  # how long a push service keeps a message for a device that is offline
MAX_PAYLOAD = 3_800  # bytes of JSON; aes128gcm adds 103, and push services take 4,096
MAX_BACKOFF = 3_600.0
MAX_RETRY_AFTER = 86_400.0
CONCURRENCY = 64


def as_dt(value: Any) -> datetime | None:
    """SQLite hands datetimes back as text."""
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if validate.digits(value):
        return min(float(value), MAX_RETRY_AFTER)
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(value)
        return min(max(0.0, (when - datetime.now(UTC)).total_seconds()), MAX_RETRY_AFTER)
    return None


@dataclass
class Row:
    id: int
    user_id: int
    channel: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    done: set[str]
    lane: str = ""  # '' or report:<id>: the author of an anonymous report about it (migration 0018)
    report_id: int | None = None

    @classmethod
    def of(cls, r: dict[str, Any]) -> Row:
        done = {x for x in (r["done"] or "").split(",") if x}
        return cls(r["id"], r["user_id"], r["channel"], r["kind"], json.loads(r["payload"]), r["attempts"],
                   done, r["lane"] or "", r["report_id"])  # fmt: skip


@dataclass(frozen=True)
class _Seen:
    """What domain.visibility reads of a report."""

    id: int
    status: str
    anonymous: bool
    author_id: int


async def out_of_sight(rows: list[Row]) -> set[int]:
    """The rows whose recipient may not see their report now (domain.visibility at delivery,
    as a socket and a replay ask it): decided for a moderator demoted since, or about a report
    rejected since, a notification waiting in the outbox (a retry, a batch, a dead letter
    retried by hand) is not delivered."""
    report_ids = list({r.report_id for r in rows if r.report_id is not None})
    if not report_ids:
        return set()
    args: list[Any] = []
    where = in_list("id", report_ids, args)
    reports = {
        x["id"]: _Seen(x["id"], x["status"], bool(x["anonymous"]), x["author_id"])
        for x in await fetch(f"SELECT id, status, anonymous, author_id FROM report WHERE {where}", *args)
    }
    args = []
    users = {
        u["id"]: Viewer.of_row(u)
        for u in await fetch(
            "SELECT id, role, region_id, agency_id FROM app_user"
            f" WHERE {in_list('id', list({r.user_id for r in rows}), args)}",
            *args,
        )
    }
    return {
        r.id
        for r in rows
        if r.report_id is not None
        and (
            r.report_id not in reports
            or r.user_id not in users
            or not can_see_report(users[r.user_id], reports[r.report_id])
        )
    }


@dataclass
class Result:
    """What happened to one row in a round."""

    state: str  # sent | failed | dropped | retry
    error: str | None = None
    delay: float = 0.0


@dataclass
class Attempt:
    """One request to one push subscription."""

    outcome: str  # ok | gone | retry | fail
    detail: str = ""
    retry_after: float | None = None


@dataclass
class Counters:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    dropped: int = 0
    rounds: int = 0
    in_flight: int = 0
    by_state: dict[str, int] = field(default_factory=dict)


def smtp_options(url: str) -> dict[str, Any]:
    """aiosmtplib options from SMTP_URL: smtp://user:pass@host:port (STARTTLS when the server
    offers it; `?starttls=require` insists, `?starttls=off` never), smtps:// (TLS from the start)."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError("SMTP_URL must start with smtp:// or smtps://")
    starttls = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p).get("starttls", "")
    return {
        "hostname": parts.hostname or "localhost",
        "port": parts.port or (465 if parts.scheme == "smtps" else 25),
        "username": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
        "use_tls": parts.scheme == "smtps",
        "start_tls": {"require": True, "off": False}.get(starttls),
        "timeout": 20,
    }


class Sender:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.rules = prefs.host_rules(settings.push_endpoint_hosts)
        key = settings.vapid_private_key
        self.vapid = Vapid.from_pem(key.encode()) if key.startswith("-----") else Vapid.from_string(key)
        # Attributes, not constants, so a test can shorten them on a running app.
        self.batch_seconds = settings.notify_batch_seconds
        self.lease_seconds = settings.notify_lease_seconds
        self.poll_seconds = settings.notify_poll_seconds
        self.max_attempts = settings.notify_max_attempts
        self.counters = Counters()
        self.session: aiohttp.ClientSession | None = None
        self._vapid_headers: dict[str, tuple[float, dict[str, str]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._limit = asyncio.Semaphore(CONCURRENCY)

    @property
    def timeout(self) -> float:
        """Well inside the lease, so no other process claims a row still being sent."""
        return max(1.0, min(10.0, self.lease_seconds / 3))

    # ------------------------------------------------------------ running

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY))
        self._task = asyncio.create_task(self._run(doorbell.listen()), name="warga-notifications")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.session is not None:
            await self.session.close()

    async def _run(self, bell: asyncio.Event) -> None:
        while True:
            bell.clear()
            try:
                claimed = await self.round()
            except Exception:
                log.exception("notification round failed; will retry")
                claimed = 0
            if claimed >= CLAIM:
                continue
            delay = self.poll_seconds
            with contextlib.suppress(Exception):  # a failing database shows in the next round
                delay = min(delay, await self._next_due())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(bell.wait(), max(0.05, delay))

    async def _next_due(self) -> float:
        """Seconds until a waiting row (backoff, batching, another process's lease) is due: the
        sender sleeps until then, not a fixed poll, unless the doorbell rings first. Rows due
        already but not claimed wait behind one of those."""
        at = datetime.now(UTC)
        sql = "SELECT MIN(due_at) AS t FROM notification WHERE state = 'pending' AND due_at > $1"
        rows = await fetch(sql, at)
        due = as_dt(rows[0]["t"]) if rows else None
        return (due - at).total_seconds() if due is not None else float("inf")

    def status(self) -> dict[str, Any]:
        c = self.counters
        return {"in_flight": c.in_flight, "sent": c.sent, "retried": c.retried, "failed": c.failed,
                "dropped": c.dropped}  # fmt: skip

    # ------------------------------------------------------------ a round

    async def round(self) -> int:
        at = datetime.now(UTC)
        rows = await self._claim(at)
        if not rows:
            return 0
        self.counters.rounds += 1
        self.counters.in_flight += len(rows)
        try:
            unseen = await out_of_sight(rows)
            results = {i: Result("dropped", "the recipient may not see the report any more") for i in unseen}
            push = [r for r in rows if r.channel == "push" and r.id not in unseen]
            mail = [r for r in rows if r.channel == "email" and r.id not in unseen]
            await asyncio.gather(self._push(push, results), self._email(mail, results))
            await self._finish(rows, results)
        finally:
            self.counters.in_flight -= len(rows)
        return len(rows)

    async def _claim(self, at: datetime) -> list[Row]:
        async with in_transaction() as conn:
            lock = " FOR UPDATE SKIP LOCKED" if is_postgres(conn) else ""
            found = await fetch(
                "SELECT * FROM notification n WHERE state = 'pending' AND due_at <= $1 AND NOT EXISTS"
                " (SELECT 1 FROM notification o WHERE o.user_id = n.user_id AND o.channel = n.channel"
                " AND o.lane = n.lane AND o.state = 'pending' AND o.id < n.id AND o.due_at > $1)"
                f" ORDER BY id LIMIT {CLAIM}{lock}",
                at,
                conn=conn,
            )
            if not found:
                return []
            rows = [Row.of(r) for r in found]
            # Batching: a user pushed to within the window waits for its end; what gathers by
            # then goes as one push. Only in the common lane: an anonymous report's lane is
            # never held back by, nor holds back, what its author hears under their name.
            wait: dict[int, datetime] = {}
            users = list({r.user_id for r in rows if r.channel == "push" and not r.lane})
            if users and self.batch_seconds > 0:
                args: list[Any] = []
                where = in_list("user_id", users, args)
                for s in await fetch(f"SELECT user_id, last_push_at FROM notify_settings WHERE {where}",
                                     *args, conn=conn):  # fmt: skip
                    last = as_dt(s["last_push_at"])
                    if last is not None and last + timedelta(seconds=self.batch_seconds) > at:
                        wait[s["user_id"]] = last + timedelta(seconds=self.batch_seconds)
            deferred = [r for r in rows if r.channel == "push" and not r.lane and r.user_id in wait]
            for user_id, until in wait.items():
                ids = [r.id for r in deferred if r.user_id == user_id]
                args = [until]
                await execute(f"UPDATE notification SET due_at = $1 WHERE {in_list('id', ids, args)}", *args,
                              conn=conn)  # fmt: skip
            held = {r.id for r in deferred}
            claimed = [r for r in rows if r.id not in held]
            if claimed:
                args = [at + timedelta(seconds=self.lease_seconds)]
                await execute(
                    "UPDATE notification SET due_at = $1, attempts = attempts + 1"
                    f" WHERE {in_list('id', [r.id for r in claimed], args)}",
                    *args,
                    conn=conn,
                )
            for r in claimed:
                r.attempts += 1
            return claimed

    async def _finish(self, rows: list[Row], results: dict[int, Result]) -> None:
        at = datetime.now(UTC)
        by_state: dict[str, list[int]] = defaultdict(list)
        async with in_transaction() as conn:
            for r in rows:
                result = results.get(r.id) or Result("retry", "not attempted", 1.0)
                if result.state == "retry" and r.attempts >= self.max_attempts:
                    result = Result("failed", f"gave up after {r.attempts} attempts: {result.error}")
                if result.state == "retry":
                    self.counters.retried += 1
                    delay = max(result.delay, min(MAX_BACKOFF, 2.0**r.attempts))
                    await execute(
                        "UPDATE notification SET due_at = $1, error = $2, done = $3 WHERE id = $4",
                        at + timedelta(seconds=delay), (result.error or "")[:500], ",".join(sorted(r.done)),
                        r.id,
                        conn=conn,
                    )  # fmt: skip
                    continue
                if result.state == "sent":
                    self.counters.sent += 1
                elif result.state == "failed":
                    self.counters.failed += 1
                    log.warning("notification %s failed for good: %s", r.id, result.error)
                else:
                    self.counters.dropped += 1
                by_state[result.state].append(r.id)
                if result.error:
                    sql = "UPDATE notification SET error = $1 WHERE id = $2"
                    await execute(sql, result.error[:500], r.id, conn=conn)
            for state, ids in by_state.items():
                args: list[Any] = [state, at]
                await execute(
                    f"UPDATE notification SET state = $1, sent_at = $2 WHERE {in_list('id', ids, args)}",
                    *args,
                    conn=conn,
                )

    # ------------------------------------------------------------ Web Push

    async def _push(self, rows: list[Row], results: dict[int, Result]) -> None:
        if not rows:
            return
        users = list(dict.fromkeys(r.user_id for r in rows))
        args: list[Any] = []
        subs: dict[int, list[PushSubscription]] = defaultdict(list)
        for s in await fetch_models(
            PushSubscription,
            f"SELECT * FROM push_subscription WHERE {in_list('user_id', users, args)} ORDER BY id",
            *args,
        ):
            subs[s.user_id].append(s)  # type: ignore[attr-defined]
        args = []
        settings = {
            s["user_id"]: s
            for s in await fetch(
                "SELECT user_id, push, language FROM notify_settings"
                f" WHERE {in_list('user_id', users, args)}",
                *args,
            )
        }
        gone: list[int] = []
        pushed: list[int] = []

        async def one_user(user_id: int, lane: str) -> None:
            """A user's rows of one lane: one push per device (their lanes never share one)."""
            mine = [r for r in rows if r.user_id == user_id and r.lane == lane]
            s = settings.get(user_id, {})
            if not switched_on(s.get("push")):
                results.update({r.id: Result("dropped", "push turned off") for r in mine})
                return
            devices = subs.get(user_id, [])
            attempts: dict[int, Attempt] = {}
            sends = []
            for sub in devices:
                items = [r for r in mine if str(sub.id) not in r.done]
                if not items:
                    continue
                if not prefs.endpoint_allowed(sub.endpoint, self.rules):
                    attempts[sub.id] = Attempt("gone", "endpoint no longer allowed")
                    continue
                sends.append((sub, items))
            outcomes = await asyncio.gather(*(self._send(sub, items, language_of(s.get("language")))
                                              for sub, items in sends))  # fmt: skip
            for (sub, _), outcome in zip(sends, outcomes, strict=True):
                attempts[sub.id] = outcome
            gone.extend(sid for sid, a in attempts.items() if a.outcome == "gone")
            if not lane and any(a.outcome == "ok" for a in attempts.values()):
                pushed.append(user_id)
            for r in mine:
                r.done |= {str(sid) for sid, a in attempts.items() if a.outcome == "ok"}
                waiting = [
                    a for sid, a in attempts.items() if a.outcome == "retry" and str(sid) not in r.done
                ]
                failed = [a for sid, a in attempts.items() if a.outcome == "fail" and str(sid) not in r.done]
                if waiting:
                    delay = max((a.retry_after or 0.0) for a in waiting)
                    results[r.id] = Result("retry", waiting[0].detail, delay)
                elif failed:
                    results[r.id] = Result("failed", failed[0].detail)
                elif r.done:
                    results[r.id] = Result("sent")
                else:
                    results[r.id] = Result("dropped", "no device")

        lanes = dict.fromkeys((r.user_id, r.lane) for r in rows)
        await asyncio.gather(*(one_user(user_id, lane) for user_id, lane in lanes))
        if gone:
            args = []
            await execute(f"DELETE FROM push_subscription WHERE {in_list('id', gone, args)}", *args)
        if pushed:  # when each user last got a push, for batching: one statement for the round
            args = [True, datetime.now(UTC)]
            values = ", ".join(f"({arg(args, u)}, $1, $1, $1, $1, 'id', 0, $2)" for u in pushed)
            await execute(
                "INSERT INTO notify_settings (user_id, push, email, follow_on_vote, follow_on_comment,"
                f" language, verify_count, last_push_at) VALUES {values}"
                " ON CONFLICT (user_id) DO UPDATE SET last_push_at = excluded.last_push_at",
                *args,
            )

    def payload(self, items: list[Row], language: str) -> bytes:
        """One notification as is; several as one "N updates" push listing them in order. Kept
        under the push services' 4 kB by shortening bodies, then leaving out the oldest."""
        entries = [{"id": str(r.id), **r.payload} for r in items]
        if len(entries) == 1:
            body: dict[str, Any] = entries[0]
        else:
            body = {
                "kind": "BATCH",
                "id": ",".join(e["id"] for e in entries),
                "title": batch_title(language, len(entries)),
                "body": "\n".join(e["title"] for e in entries),
                "url": entries[-1]["url"],
                "count": len(entries),
                "items": entries,
            }
        data = json.dumps(body, ensure_ascii=False).encode()
        while len(data) > MAX_PAYLOAD:
            items_now = body.get("items")
            if items_now and any(len(e.get("body", "")) > 40 for e in items_now):
                for e in items_now:
                    e["body"] = e.get("body", "")[:40]
            elif items_now and len(items_now) > 1:
                items_now.pop(0)
                body["body"] = "\n".join(e["title"] for e in items_now)
            else:
                body["body"] = body.get("body", "")[: max(0, len(body.get("body", "")) // 2)]
                if not body["body"]:
                    body.pop("items", None)
            data = json.dumps(body, ensure_ascii=False).encode()
        return data

    def vapid_headers(self, endpoint: str) -> dict[str, str]:
        """RFC 8292: a JWT for the push service's origin, signed once an hour, not per push."""
        parts = urlsplit(endpoint)
        audience = f"{parts.scheme}://{parts.netloc}"
        now = datetime.now(UTC).timestamp()
        cached = self._vapid_headers.get(audience)
        if cached is None or cached[0] < now + 3600:
            expires = int(now + 12 * 3600)
            claims = {"sub": self.settings.vapid_subject, "aud": audience, "exp": expires}
            cached = (expires, self.vapid.sign(claims))
            self._vapid_headers[audience] = cached
        return cached[1]

    async def _send(self, sub: PushSubscription, items: list[Row], language: str) -> Attempt:
        data = self.payload(items, language)
        info = {"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}}
        try:
            body = WebPusher(info).encode(data, "aes128gcm")["body"]
        except Exception as exc:  # a key that no longer decodes: the subscription is unusable
            return Attempt("gone", f"cannot encrypt: {type(exc).__name__}")
        headers = {
            "TTL": str(PUSH_TTL),
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "Urgency": "normal",
            "Topic": f"warga-{items[0].id}"[:32],
            **self.vapid_headers(sub.endpoint),
        }
        assert self.session is not None
        try:
            async with self._limit, self.session.post(
                sub.endpoint, data=body, headers=headers, allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as resp:  # fmt: skip
                status = resp.status
                after = retry_after(resp.headers.get("Retry-After"))
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return Attempt("retry", f"push service unreachable: {type(exc).__name__}")
        if status in (200, 201, 202):
            return Attempt("ok")
        if status in (404, 410):
            return Attempt("gone", f"HTTP {status}")
        if status == 429 or status >= 500:
            return Attempt("retry", f"HTTP {status}", after)
        return Attempt("fail", f"HTTP {status}")

    # ------------------------------------------------------------ e-mail

    async def _email(self, rows: list[Row], results: dict[int, Result]) -> None:
        if not rows:
            return
        if not self.settings.smtp_url:
            results.update({r.id: Result("dropped", "e-mail is off (no SMTP_URL)") for r in rows})
            return
        users = list({r.user_id for r in rows})
        args: list[Any] = []
        found = {
            u["id"]: u
            for u in await fetch(
                "SELECT u.id, u.email, s.email AS email_on, s.verified_email, s.language, s.verify_nonce"
                " FROM app_user u LEFT JOIN notify_settings s ON s.user_id = u.id"
                f" WHERE {in_list('u.id', users, args)}",
                *args,
            )
        }
        messages: list[tuple[Row, EmailMessage]] = []
        for r in rows:
            u = found.get(r.user_id)
            message = self._message(r, u) if u else None
            if message is None:
                results[r.id] = Result("dropped", "e-mail off, address unverified or changed")
            else:
                messages.append((r, message))
        if not messages:
            return
        try:
            smtp = aiosmtplib.SMTP(**smtp_options(self.settings.smtp_url))
            async with smtp:
                for r, message in messages:
                    results[r.id] = await self._send_mail(smtp, message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            for r, _ in messages:
                results.setdefault(r.id, Result("retry", f"mail server: {type(exc).__name__}: {exc}"[:300]))

    async def _send_mail(self, smtp: aiosmtplib.SMTP, message: EmailMessage) -> Result:
        try:
            await smtp.send_message(message)
            return Result("sent")
        except aiosmtplib.SMTPRecipientsRefused as exc:
            return Result("failed", f"refused: {exc}"[:300])
        except aiosmtplib.SMTPResponseException as exc:
            return Result(
                "retry" if 400 <= exc.code < 500 else "failed", f"SMTP {exc.code}: {exc.message}"[:300]
            )

    def _message(self, r: Row, u: dict[str, Any]) -> EmailMessage | None:
        s = self.settings
        language = language_of(u["language"])
        address = u["email"]
        if not address:
            return None
        if r.kind == "VERIFY":
            p = r.payload
            if p.get("email") != address or u["verify_nonce"] != p.get("nonce"):
                return None  # the address changed, or a newer link was asked for
            token = prefs.verification_token(r.user_id, address, p["nonce"], int(p["expires"]))
            link = f"{s.public_url}/notifications/verify-email?token={token}"
            subject, text, page = verification_parts(language, address, link)
            unsubscribe = None
        else:
            if not switched_on(u["email_on"]):
                return None
            if u["verified_email"] != address:
                return None
            unsubscribe = (
                f"{s.public_url}/notifications/unsubscribe?token={prefs.unsubscribe_token(r.user_id)}"
            )
            subject, text, page = email_parts(language, r.payload, unsubscribe)
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = s.mail_from
        message["To"] = address
        message["Date"] = email.utils.formatdate(localtime=False)
        domain = email.utils.parseaddr(s.mail_from)[1].rpartition("@")[2] or "warga.local"
        message["Message-ID"] = f"<notification.{r.id}@{domain}>"
        message["Content-Language"] = language
        if unsubscribe:
            message["List-Unsubscribe"] = f"<{unsubscribe}>"
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
            message["Auto-Submitted"] = "auto-generated"
        message.set_content(text)
        message.add_alternative(page, subtype="html")
        return message


# ---------------------------------------------------------------- the operators' view (warga notifications)


async def queue_status() -> dict[str, Any]:
    rows = await fetch("SELECT channel, state, COUNT(*) AS n FROM notification GROUP BY channel, state")
    counts = {f"{r['channel']}.{r['state']}": int(r["n"]) for r in rows}
    oldest = await fetch("SELECT MIN(created_at) AS t FROM notification WHERE state = 'pending'")
    failed = await fetch(
        "SELECT id, user_id, channel, kind, attempts, error FROM notification WHERE state = 'failed'"
        " ORDER BY id DESC LIMIT 20"
    )
    return {"counts": counts, "oldest_pending": as_dt(oldest[0]["t"]) if oldest else None, "failed": failed}


async def retry_failed(ids: list[int] | None = None) -> int:
    """Put dead letters back in the queue, due now, with a fresh count of attempts."""
    args: list[Any] = [datetime.now(UTC)]
    where = "state = 'failed'" + (f" AND {in_list('id', ids, args)}" if ids else "")
    n = await execute(f"UPDATE notification SET state = 'pending', attempts = 0, due_at = $1, error = NULL"
                      f" WHERE {where}", *args)  # fmt: skip
    return n


async def prune(days: float) -> int:
    """Delivered and dropped rows older than `days` (the outbox is not an archive)."""
    cutoff = datetime.now(UTC) - timedelta(days=days)
    return await execute(
        "DELETE FROM notification WHERE state IN ('sent', 'dropped') AND created_at < $1", cutoff
    )
