"""Accounts: registration, login, staff accounts, and who may see contact data."""

from __future__ import annotations

import re

import phonenumbers
from tortoise.exceptions import IntegrityError

from config import get_settings
from domain import validate
from domain.auth import Viewer, bearer, hashed, issue_token, token_claims, verified
from domain.catalog import catalog
from domain.errors import BadUserInput, Conflict, Forbidden, NotFound, Unauthenticated
from domain.ratelimit import LoginGuard, account_key
from domain.tx import atomic
from models import User
from models.enums import EventKind, RegionLevel, Role
from models.sql import fetch, instance

HANDLE_RE = re.compile(r"^[a-z0-9_.]{3,30}$")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
PHONE_SEPARATORS = re.compile(r"[\s\-().\u00a0/]")


def viewer_of(user: User) -> Viewer:
    return Viewer(
        id=user.id,
        role=Role(user.role),
        region_id=user.region_id,  # type: ignore[attr-defined]
        agency_id=user.agency_id,
    )  # type: ignore[attr-defined]


def _handle(value: str) -> str:
    handle = value.strip().lower()
    if not HANDLE_RE.match(handle):
        raise BadUserInput("handle", "`handle` must be 3 to 30 characters of a-z, 0-9, _ and .")
    return handle


def _password(value: str) -> str:
    if len(value) < 8:
        raise BadUserInput("password", "`password` must be at least 8 characters.")
    if len(value) > 200:
        raise BadUserInput("password", "`password` must be at most 200 characters.")
    return value


def _email(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    email = value.strip().lower()
    if len(email) > 254 or not EMAIL_RE.match(email):
        raise BadUserInput("email", "`email` is not a valid address.")
    return email


def normalise_phone(value: str) -> str | None:
    """One number, one identity: every way people write an Indonesian number (+62 812...,
    62812..., 0812-..., (0812) 555 ..., 0062...) gives the same E.164 string; None when it is
    not a valid number. Numbers of other countries need their + and country code."""
    raw = PHONE_SEPARATORS.sub("", value.strip()).replace("\uff0b", "+")
    if len(raw) > 32:
        return None
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    elif raw.startswith("62"):
        raw = "+" + raw  # national numbers start with the trunk 0, so this is the country code
    if raw.startswith("+620"):
        raw = "+62" + raw[4:]  # "+62 (0)812...": the trunk 0 written after the country code
    try:
        number = phonenumbers.parse(raw, "ID")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _phone(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    phone = normalise_phone(value)
    if phone is None:
        raise BadUserInput("phone", "`phone` is not a valid phone number.")
    return phone


async def _create(**values: object) -> User:
    for key in ("handle", "email", "phone"):
        if values.get(key) and await User.filter(**{key: values[key]}).exists():
            raise Conflict(f"That {key} is already registered.", field=key)
    try:
        return await User.create(**values)
    except IntegrityError:  # lost a race with another registration
        raise Conflict("That handle, email or phone is already registered.") from None


async def authenticate(authorization: str | None) -> User | None:
    """The caller of an `Authorization: Bearer <token>` header: None when absent, and an error
    (not silent anonymity) when present but invalid, so the app knows to log in again."""
    found = await caller(authorization)
    return instance(User, found[0]) if found is not None else None


async def caller(authorization: str | None) -> tuple[dict, float] | None:
    """authenticate's answer as data: the caller's row and when the token expires (a Unix
    time). Rows, not model instances, so that a caller may be remembered between requests
    (schema/context.py) while each request gets an instance of its own."""
    token = bearer(authorization)
    if token is None:
        if authorization:
            raise Unauthenticated("Malformed Authorization header; use `Bearer <token>`.")
        return None
    claims = token_claims(token, get_settings().secret_key)
    rows = await fetch("SELECT * FROM app_user WHERE id = $1", claims[0]) if claims else []
    if not rows or claims is None:
        raise Unauthenticated("Invalid or expired token; log in again.")
    return rows[0], claims[1]


def token_for(user: User) -> str:
    s = get_settings()
    return issue_token(user.id, s.secret_key, s.token_ttl_hours)


async def register(
    handle: str, display_name: str, password: str, email: str | None, phone: str | None
) -> User:
    return await _create(
        handle=_handle(handle),
        display_name=validate.text(display_name, "displayName", min_len=1, max_len=80),
        email=_email(email),
        phone=_phone(phone),
        password_hash=await hashed(_password(password)),
        role=Role.CITIZEN,
    )


async def find_login(login_name: str) -> tuple[User | None, str]:
    """The account a login names (a handle, an e-mail or a phone number in any writing) and
    the login's normalised form. A value is only looked up where it could be stored: a
    40-character e-mail is never compared with the 30-character handle column (Tortoise
    validates filter values against the column's length and would raise)."""
    text = login_name.strip().lower()
    if HANDLE_RE.match(text):
        user = await User.get_or_none(handle=text)
        if user is not None:
            return user, text
    if "@" in text:
        if len(text) <= 254 and EMAIL_RE.match(text):
            return await User.get_or_none(email=text), text
        return None, text
    phone = normalise_phone(text)
    if phone is not None:
        return await User.get_or_none(phone=phone), phone
    return None, text


async def login(login_name: str, password: str, guard: LoginGuard | None = None) -> User:
    """Check the password; failed guesses are slowed down (never locked out) by the guard,
    which is asked before the password is hashed so a throttled guess costs no CPU."""
    if len(login_name) > 400 or len(password) > 200:
        raise Unauthenticated("Wrong login or password.")
    user, normalised = await find_login(login_name)
    account = account_key(user.id if user else None, normalised)
    if guard is not None:
        await guard.check(account)
    if not await verified(user.password_hash if user else None, password):
        if guard is not None:
            await guard.failed(account)
        raise Unauthenticated("Wrong login or password.")
    assert user is not None
    if guard is not None:
        await guard.succeeded(account)
    return user


def _placement(role: Role, region_id: int | None, agency_id: int | None) -> None:
    """Where a role may sit: an OFFICER in exactly one region or agency, a partner in an
    agency, nobody else in either."""
    cat = catalog()
    if region_id is not None:
        region = cat.region(region_id, "regionId")
        if role != Role.OFFICER:
            raise BadUserInput("regionId", "Only an OFFICER belongs to a region.")
        if region.level == RegionLevel.PROVINSI:
            raise BadUserInput("regionId", "An officer's region is a kelurahan, kecamatan or kota.")
    if agency_id is not None:
        cat.agency(agency_id, "agencyId")
        if role not in (Role.OFFICER, Role.AGENCY_PARTNER):
            raise BadUserInput("agencyId", "Only an OFFICER or AGENCY_PARTNER belongs to an agency.")
    if role == Role.OFFICER and (region_id is None) == (agency_id is None):
        raise BadUserInput("regionId", "An OFFICER belongs to exactly one region or one agency.")


async def set_role(
    actor: Viewer | None, user_id: int, role: Role, region_id: int | None, agency_id: int | None
) -> User:
    """ADMIN: move an account to another role, region or agency (a demotion included). The
    change is an event, so the user's open websockets follow it at once (subscriptions.hub)."""
    if actor is None:
        raise Unauthenticated()
    if not actor.is_admin:
        raise Forbidden("Only an ADMIN can change a role.")
    _placement(role, region_id, agency_id)
    async with atomic() as tx:
        updated = (
            await User.filter(id=user_id)
            .using_db(tx.conn)
            .update(role=role, region_id=region_id, agency_id=agency_id)
        )
        if not updated:
            raise NotFound(f"No user with id {user_id}.")
        await tx.emit(EventKind.USER_CHANGED, None, user_id=user_id)
    user = await User.get(id=user_id)
    return user


async def create_staff(
    actor: Viewer | None,
    *,
    handle: str,
    display_name: str,
    password: str,
    role: Role,
    region_id: int | None,
    agency_id: int | None,
) -> User:
    """ADMIN only (the CLI passes actor=None to bootstrap the first admin)."""
    if actor is not None and not actor.is_admin:
        raise Forbidden("Only an ADMIN can create staff accounts.")
    if role == Role.CITIZEN:
        raise BadUserInput("role", "Citizens register themselves; choose a staff role.")
    _placement(role, region_id, agency_id)
    return await _create(
        handle=_handle(handle),
        display_name=validate.text(display_name, "displayName", min_len=1, max_len=80),
        password_hash=await hashed(_password(password)),
        role=role,
        region_id=region_id,
        agency_id=agency_id,
    )
