"""A user's side of notifications: their settings, their devices' Web Push subscriptions (only
on push services the operator allows), and their e-mail address's verification and one-click
unsubscribe (signed tokens, so neither needs a session)."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid
from tortoise.backends.base.client import BaseDBAsyncClient

from config import get_settings
from domain import validate
from domain.auth import Viewer
from domain.errors import BadUserInput, Forbidden, RateLimited, Unauthenticated
from domain.notifications import doorbell, insert
from domain.notifications_texts import LANGUAGES
from domain.tx import atomic
from models import PushSubscription, User
from models.sql import execute, fetch, fetch_model, is_postgres

MAX_DEVICES = 10
MAX_ENDPOINT = 1024
VERIFY_TTL = timedelta(hours=24)
VERIFY_PER_HOUR = 3
DEFAULTS = {"push": True, "email": True, "follow_on_vote": True, "follow_on_comment": True, "language": "id"}


# ---------------------------------------------------------------- settings


async def ensure_row(conn: BaseDBAsyncClient, user_id: int) -> None:
    await execute(
        "INSERT INTO notify_settings (user_id, push, email, follow_on_vote, follow_on_comment, language,"
        " verify_count) VALUES ($1, $2, $2, $2, $2, 'id', 0) ON CONFLICT (user_id) DO NOTHING",
        user_id,
        True,
        conn=conn,
    )


async def settings_of(user_id: int, conn: BaseDBAsyncClient | None = None) -> dict[str, Any]:
    """The user's settings with the defaults filled in, and their verification state."""
    rows = await fetch("SELECT * FROM notify_settings WHERE user_id = $1", user_id, conn=conn)
    row = rows[0] if rows else {}
    out: dict[str, Any] = {k: row.get(k, v) if row.get(k) is not None else v for k, v in DEFAULTS.items()}
    out["push"], out["email"] = bool(out["push"]), bool(out["email"])
    out["follow_on_vote"], out["follow_on_comment"] = (
        bool(out["follow_on_vote"]),
        bool(out["follow_on_comment"]),
    )
    out["verified_email"] = row.get("verified_email")
    return out


async def update_settings(viewer: Viewer | None, changes: dict[str, Any]) -> dict[str, Any]:
    if viewer is None:
        raise Unauthenticated()
    values = {k: v for k, v in changes.items() if v is not None}
    if "language" in values and values["language"] not in LANGUAGES:
        raise BadUserInput("input.language", f"`language` must be one of {', '.join(LANGUAGES)}.")
    async with atomic() as tx:
        await ensure_row(tx.conn, viewer.id)
        for column, value in values.items():
            assert column in DEFAULTS, column  # the columns come from the resolver, never from input
            await execute(f"UPDATE notify_settings SET {column} = $1 WHERE user_id = $2", value, viewer.id,
                          conn=tx.conn)  # fmt: skip
    return await settings_of(viewer.id)


async def email_verified(user: User) -> bool:
    found = await fetch("SELECT verified_email FROM notify_settings WHERE user_id = $1", user.id)
    return bool(user.email) and bool(found) and found[0]["verified_email"] == user.email


# ---------------------------------------------------------------- push subscriptions


@dataclass(frozen=True)
class HostRule:
    """One entry of PUSH_ENDPOINT_HOSTS: `host`, `*.domain`, optionally `scheme://` and `:port`
    (`:*` for any); without a scheme only https on its default port."""

    scheme: str
    host: str
    port: str | None

    @classmethod
    def parse(cls, entry: str) -> HostRule:
        scheme, _, rest = entry.strip().lower().rpartition("://")
        host, port = rest, None
        if rest.startswith("["):
            host, _, tail = rest.partition("]")
            host += "]"
            port = tail[1:] if tail.startswith(":") else None
        elif ":" in rest:
            host, _, port = rest.partition(":")
        return cls(scheme or "https", host.strip("[]"), port or None)

    def allows(self, scheme: str, host: str, port: int | None) -> bool:
        if scheme != self.scheme:
            return False
        if self.host.startswith("*."):
            if not (host.endswith(self.host[1:]) and len(host) > len(self.host) - 1):
                return False
        elif host != self.host:
            return False
        default = 443 if scheme == "https" else 80
        if self.port == "*":
            return True
        return (port or default) == (int(self.port) if self.port and validate.digits(self.port) else default)


def host_rules(text: str) -> list[HostRule]:
    return [HostRule.parse(e) for e in text.split(",") if e.strip()]


def endpoint_allowed(endpoint: str, rules: list[HostRule]) -> bool:
    """Whether the server may POST to this endpoint: http(s), no credentials, no odd bytes, on a
    host (and port) the operator allows."""
    if not endpoint or len(endpoint) > MAX_ENDPOINT or any(c.isspace() or ord(c) < 32 for c in endpoint):
        return False
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return False
    return any(rule.allows(parts.scheme, parts.hostname, port) for rule in rules)


def _b64decode(value: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(value.strip() + "=" * (-len(value.strip()) % 4))
    except (binascii.Error, ValueError):
        return None


def check_keys(p256dh: str, auth: str) -> None:
    """The browser's P-256 public key (uncompressed point) and 16-byte auth secret (RFC 8291)."""
    raw = _b64decode(p256dh) if len(p256dh) <= 100 else None
    try:
        if raw is None or len(raw) != 65:
            raise ValueError
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError:
        raise BadUserInput("input.keys.p256dh", "`p256dh` is not a P-256 public key (base64url).") from None
    secret = _b64decode(auth) if len(auth) <= 40 else None
    if secret is None or len(secret) != 16:
        raise BadUserInput("input.keys.auth", "`auth` is not a 16-byte secret (base64url).")


async def register_push(viewer: Viewer | None, endpoint: str, p256dh: str, auth: str) -> PushSubscription:
    """The same endpoint twice is one subscription, owned by whoever registered it last (a
    browser belongs to the account signed in on it)."""
    if viewer is None:
        raise Unauthenticated()
    endpoint = endpoint.strip()
    if not endpoint_allowed(endpoint, host_rules(get_settings().push_endpoint_hosts)):
        raise BadUserInput(
            "input.endpoint", "That push endpoint is not on a push service this server allows."
        )
    check_keys(p256dh, auth)
    async with atomic() as tx:
        await execute(
            "INSERT INTO push_subscription (user_id, endpoint, p256dh, auth, created_at)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (endpoint) DO UPDATE SET user_id = excluded.user_id,"
            " p256dh = excluded.p256dh, auth = excluded.auth",
            viewer.id, endpoint, p256dh.strip(), auth.strip(), tx.at,
            conn=tx.conn,
        )  # fmt: skip
        # A user's oldest devices beyond the limit make way.
        await execute(
            "DELETE FROM push_subscription WHERE user_id = $1 AND id NOT IN (SELECT id FROM push_subscription"
            " WHERE user_id = $1 ORDER BY id DESC LIMIT $2)",
            viewer.id, MAX_DEVICES,
            conn=tx.conn,
        )  # fmt: skip
    found = await fetch_model(
        PushSubscription, "SELECT * FROM push_subscription WHERE endpoint = $1", endpoint
    )
    assert found is not None
    return found


async def unregister_push(viewer: Viewer | None, endpoint: str) -> bool:
    if viewer is None:
        raise Unauthenticated()
    async with atomic() as tx:
        n = await execute("DELETE FROM push_subscription WHERE user_id = $1 AND endpoint = $2", viewer.id,
                          endpoint.strip(), conn=tx.conn)  # fmt: skip
    return n > 0


# ---------------------------------------------------------------- e-mail verification and unsubscribe


def _sign(purpose: str, *parts: object) -> str:
    message = "|".join([purpose, *map(str, parts)]).encode()
    digest = hmac.new(get_settings().secret_key.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).rstrip(b"=").decode()


def verification_token(user_id: int, email: str, nonce: str, expires: int) -> str:
    return f"{user_id}.{expires}.{nonce}.{_sign('verify-email', user_id, email, nonce, expires)}"


def unsubscribe_token(user_id: int) -> str:
    return f"{user_id}.{_sign('unsubscribe', user_id)}"


async def request_verification(viewer: Viewer | None) -> bool:
    """Queue an e-mail with a signed, expiring, single-use link (at most 3 an hour)."""
    if viewer is None:
        raise Unauthenticated()
    if not get_settings().smtp_url:
        raise Forbidden("E-mail is not enabled on this server (no SMTP_URL).")
    user = await fetch_model(User, "SELECT * FROM app_user WHERE id = $1", viewer.id)
    if user is None or not user.email:
        raise BadUserInput("email", "Your account has no e-mail address to verify.")
    async with atomic() as tx:
        await ensure_row(tx.conn, viewer.id)
        lock = " FOR UPDATE" if is_postgres(tx.conn) else ""
        row = (
            await fetch(f"SELECT * FROM notify_settings WHERE user_id = $1{lock}", viewer.id, conn=tx.conn)
        )[0]
        start: datetime | None = row["verify_window_start"]
        if isinstance(start, str):
            start = datetime.fromisoformat(start)
        count = row["verify_count"] or 0
        if start is None or tx.at - start >= timedelta(hours=1):
            start, count = tx.at, 0
        if count >= VERIFY_PER_HOUR:
            wait = int((start + timedelta(hours=1) - tx.at).total_seconds()) + 1
            raise RateLimited(f"Too many verification e-mails; try again in {wait} s.")
        nonce = secrets.token_hex(16)
        await execute(
            "UPDATE notify_settings SET verify_nonce = $1, verify_window_start = $2, verify_count = $3"
            " WHERE user_id = $4",
            nonce, start, count + 1, viewer.id,
            conn=tx.conn,
        )  # fmt: skip
        expires = int(time.time() + VERIFY_TTL.total_seconds())
        payload = json.dumps({"kind": "VERIFY", "email": user.email, "nonce": nonce, "expires": expires})
        await insert(tx.conn, [(viewer.id, None, "email", "VERIFY", f"v:{nonce}", payload, tx.at, "")])
    doorbell.ring()
    return True


def _bad_token() -> BadUserInput:
    return BadUserInput("token", "This link is invalid, expired or already used.")


async def verify_email(token: str) -> User:
    """Takes the token of the link once; the address it was issued for must still be the user's."""
    try:
        user_id_s, expires_s, nonce, sig = token.strip().split(".")
        user_id, expires = int(user_id_s), int(expires_s)
    except ValueError:
        raise _bad_token() from None
    if expires < time.time() or not 0 < user_id < 2**31:
        raise _bad_token()
    user = await fetch_model(User, "SELECT * FROM app_user WHERE id = $1", user_id)
    if user is None or not user.email:
        raise _bad_token()
    if not validate.same_secret(sig, _sign("verify-email", user_id, user.email, nonce, expires)):
        raise _bad_token()
    async with atomic() as tx:
        n = await execute(
            "UPDATE notify_settings SET verified_email = $1, verify_nonce = NULL WHERE user_id = $2"
            " AND verify_nonce = $3",
            user.email, user_id, nonce,
            conn=tx.conn,
        )  # fmt: skip
    if n != 1:
        raise _bad_token()
    return user


async def unsubscribe(token: str) -> str | None:
    """One-click unsubscribe (RFC 8058): e-mail off, without signing in. The user's language, or
    None for a token that is not valid."""
    user_id_s, _, sig = token.strip().partition(".")
    if not validate.digits(user_id_s) or not 0 < int(user_id_s) < 2**31:
        return None
    user_id = int(user_id_s)
    if not validate.same_secret(sig, _sign("unsubscribe", user_id)):
        return None
    if not await fetch("SELECT id FROM app_user WHERE id = $1", user_id):
        return None
    async with atomic() as tx:
        await ensure_row(tx.conn, user_id)
        await execute(
            "UPDATE notify_settings SET email = $1 WHERE user_id = $2", False, user_id, conn=tx.conn
        )
    return str((await settings_of(user_id))["language"])


@functools.cache
def vapid_public_key(private_key: str) -> str:
    """The application server key a browser passes to PushManager.subscribe: the uncompressed
    P-256 point, base64url without padding."""
    vapid = (
        Vapid.from_pem(private_key.encode())
        if private_key.startswith("-----")
        else Vapid.from_string(private_key)
    )
    raw = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
