"""Who is calling: passwords (argon2), signed bearer tokens, and the Viewer they yield."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from models.enums import Role

# WARGA_ARGON2=fast lowers the cost for the test suite only (thousands of hashes); production
# keeps argon2-cffi's defaults (RFC 9106 low-memory profile).
_hasher = (
    PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    if os.environ.get("WARGA_ARGON2") == "fast"
    else PasswordHasher()
)
# A valid hash of a random password: verifying against it when the login is unknown
# keeps the response time the same, so logins cannot be enumerated by timing.
_DUMMY_HASH = _hasher.hash("warga-dummy-password")


# Argon2 costs about 100 ms of a core by design: on the event loop, 60 logins in one request
# stalled every other client for 7 s. A server hashes on threads of its own (argon2-cffi
# releases the interpreter while it works), two at a time: a burst queues there, not on the
# loop. Started lazily; the CLI and the seed hash in their own thread.
_HASHING = ThreadPoolExecutor(max_workers=2, thread_name_prefix="warga-argon2")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


async def hashed(password: str) -> str:
    """hash_password, off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(_HASHING, hash_password, password)


async def verified(password_hash: str | None, password: str) -> bool:
    """verify_password, off the event loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_HASHING, verify_password, password_hash, password)


@dataclass(frozen=True)
class Viewer:
    """The authenticated caller, as the permission rules need it."""

    id: int
    role: Role
    region_id: int | None = None
    agency_id: int | None = None

    @classmethod
    def of_row(cls, row: Mapping[str, Any]) -> Viewer:
        """From an app_user row's id, role, region_id and agency_id (purpose-built SQL)."""
        return cls(row["id"], Role(row["role"]), row["region_id"], row["agency_id"])

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def issue_token(user_id: int, secret: str, ttl_hours: float) -> str:
    """`payload.signature`, HMAC-SHA256; the role is read from the database on use, so a
    demoted user loses their rights at once."""
    payload = _b64(json.dumps({"sub": user_id, "exp": int(time.time()) + ttl_hours * 3600}).encode())
    sig = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{_b64(sig)}"


def read_token(token: str, secret: str) -> int | None:
    """The user id of a valid, unexpired token, else None."""
    claims = token_claims(token, secret)
    return claims[0] if claims is not None else None


def token_claims(token: str, secret: str) -> tuple[int, float] | None:
    """(user id, expiry as a Unix time) of a valid, unexpired token, else None."""
    try:
        payload, sig = token.split(".", 1)
        expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(sig)):
            return None
        claims = json.loads(_unb64(payload))
        if int(claims["exp"]) < time.time():
            return None
        return int(claims["sub"]), float(claims["exp"])
    except (ValueError, KeyError, TypeError):
        return None


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` value."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
