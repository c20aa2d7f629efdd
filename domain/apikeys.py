"""API keys for partner apps (Open311 POST): issued and revoked by an ADMIN, stored hashed."""

from __future__ import annotations

import hashlib
import secrets

from domain import validate
from domain.auth import Viewer
from domain.errors import BadUserInput, Forbidden, NotFound, Unauthenticated
from domain.tx import now
from models import ApiKey, User

PREFIX = "wk_"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _admin(actor: Viewer | None) -> None:
    """The CLI passes actor=None (it runs with the operator's rights)."""
    if actor is None:
        return
    if not actor.is_admin:
        raise Forbidden("Only an ADMIN manages API keys.")


async def issue(actor: Viewer | None, name: str, user_id: int | None) -> tuple[ApiKey, str]:
    """A new key; the plain key is returned once and never stored."""
    _admin(actor)
    label = validate.text(name, "name", min_len=1, max_len=120)
    owner_id = user_id if user_id is not None else (actor.id if actor else None)
    if owner_id is None or not await User.filter(id=owner_id).exists():
        raise BadUserInput("userId", "The key must belong to an existing user.")
    key = PREFIX + secrets.token_urlsafe(32)
    row = await ApiKey.create(
        name=label, prefix=key[:10], key_hash=_hash(key), user_id=owner_id, created_at=now()
    )
    return row, key


async def revoke(actor: Viewer | None, key_id: int) -> ApiKey:
    _admin(actor)
    row = await ApiKey.get_or_none(id=key_id)
    if row is None:
        raise NotFound(f"No API key with id {key_id}.")
    if row.revoked_at is None:
        row.revoked_at = now()
        await row.save(update_fields=["revoked_at"])
    return row


async def listed(actor: Viewer | None) -> list[ApiKey]:
    if actor is None:
        raise Unauthenticated()
    _admin(actor)
    return list(await ApiKey.all().order_by("-id"))


async def user_for(key: str | None) -> User | None:
    """The account a valid, unrevoked key acts as."""
    if not isinstance(key, str) or not key.startswith(PREFIX) or len(key) > 200:
        return None
    try:
        digest = _hash(key)
    except UnicodeEncodeError:  # a lone surrogate from a JSON body: no key looks like that
        return None
    row = await ApiKey.get_or_none(key_hash=digest, revoked_at=None)
    return await User.get_or_none(id=row.user_id) if row else None  # type: ignore[attr-defined]
