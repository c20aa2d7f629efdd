"""Per-request context: the viewer (from the bearer token) and the request's DataLoaders."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from strawberry.types import Info as _Info

from config import get_settings
from domain import visibility
from domain.auth import Viewer
from domain.errors import Unauthenticated
from domain.media_access import signed_url
from domain.pagination import ReadBudget
from domain.ratelimit import LoginGuard
from domain.readgate import Gate, client_key
from domain.report import has_hidden_own
from domain.tx import now
from domain.users import caller, viewer_of
from models import User
from models.sql import instance
from resolvers.loaders import Loaders

T = TypeVar("T")


def read_budget(request: Any) -> ReadBudget:
    """The app's budget for one read (config.Settings, read per request), the defaults outside
    an app."""
    settings = getattr(getattr(getattr(request, "app", None), "state", None), "settings", None)
    if settings is None:
        return ReadBudget()
    return ReadBudget(timeout_ms=settings.read_timeout_ms, count_cap=settings.total_count_cap)


@dataclass
class Context:
    request: Any
    response: Any = None
    user: User | None = None
    viewer: Viewer | None = None
    loaders: Loaders = field(default_factory=Loaders)
    connection_params: dict[str, Any] | None = None
    started: datetime = field(default_factory=lambda: now())
    expires_at: float | None = None  # when the caller's token expires (Unix time)
    expiry_timer: Any = None  # a websocket's close at that moment (server.close_at_expiry)
    initialised: bool = False  # a websocket's connection_init was taken (server.on_ws_connect)
    # The read cache's version when the request began (schema/__init__.py): renderings made in
    # it may be shared under that version (schema/renderings.py). None: share nothing.
    read_version: Hashable | None = None
    # Where reads shared between viewers are kept under that version (schema/cache.py).
    shared_reads: Any = None
    _signed_out: Context | None = field(default=None, repr=False)

    def signed_out(self) -> Context:
        """The same request as a signed-out viewer would make it (its own loaders, the same
        clock), to render what is shown to the public."""
        if self._signed_out is None:
            self._signed_out = Context(request=self.request, started=self.started)
        return self._signed_out

    async def authenticate(self, authorization: str | None) -> None:
        """Resolve the caller once per request (or websocket connection). A caller is
        remembered under the read version when the request has one (HTTP): every change to a
        user commits (a role, region or agency change an event as well), which moves it."""
        key = ("caller", authorization) if authorization else None
        found = await self.shared_read(key, lambda: caller(authorization), in_flight=False)
        if found is None:
            return
        row, expires_at = found
        if expires_at <= time.time():  # remembered past its expiry
            raise Unauthenticated("Invalid or expired token; log in again.")
        self.expires_at = expires_at
        self.user_changed(instance(User, row))  # an instance of this request's own

    def user_changed(self, user: User) -> None:
        """The caller as they are now: at sign-in, and on an open websocket whenever an admin
        changes their role, region or agency (subscriptions.hub), before the next event."""
        self.user = user
        self.viewer = viewer_of(user)
        self.loaders.viewer = self.viewer
        self.loaders.users.prime(user.id, user, force=True)

    def login_guard(self) -> LoginGuard | None:
        """Password guesses from this caller's address, slowed down (domain/ratelimit.py)."""
        from schema.admission import _limiter, client_address

        limiter = _limiter(self)
        return limiter.guard(client_address(self.request)) if limiter is not None else None

    async def refresh(self) -> None:
        """A websocket authenticates once, at connection_init: each operation it starts re-reads
        the caller, so a role changed while no subscription was open (none to be told by the
        hub) still applies to the next query, mutation or replay."""
        if self.user is None:
            return
        if self.expires_at is not None and self.expires_at <= time.time():
            # The socket is being closed at expiry (server.close_at_expiry); until it is, it
            # serves nothing more as this user.
            self.user = self.viewer = self.loaders.viewer = None
            raise Unauthenticated("The token has expired; log in again.")
        user = await User.get_or_none(id=self.user.id)
        if user is None:
            self.user = self.viewer = self.loaders.viewer = None
        else:
            self.user_changed(user)

    async def shared_read(
        self, key: Hashable | None, compute: Callable[[], Awaitable[T]], *, in_flight: bool = True
    ) -> T:
        """A read whose answer is the same for every request that asks it under the request's
        read version (the feed's page for everyone whose rows are the public's): computed once
        per version and kept as whole answers are. `key` None: not shareable, computed here.
        `in_flight` False: a cheap read seldom asked by two requests at once (a caller's row),
        made by this request itself when not cached (no computation shared while it runs)."""
        if key is None or self.read_version is None or self.shared_reads is None:
            return await compute()
        if not in_flight:
            return await self.shared_reads.get_or_read(("read", key), self.read_version, compute)
        return await self.shared_reads.get_or_compute(("read", key), self.read_version, compute)

    async def rows_viewer(self, author_id: int | None) -> Viewer | None:
        """Whom a search of reports is made for: None (the public) when this viewer's rows are
        exactly the public's (domain/visibility.rows_as_public), so the page is shared."""
        viewer = self.viewer
        if viewer is None or not visibility.rows_as_public(viewer, author_id, False):
            return viewer
        hidden = await self.shared_read(("hidden-own", viewer.id), lambda: has_hidden_own(viewer))
        return None if visibility.rows_as_public(viewer, author_id, hidden) else viewer

    def media_url(self, path: str, public: bool) -> str:
        """A stored file's URL: plain when the public may fetch it, else signed for the hour
        (an `<img>` sends no token; domain/media_access.py)."""
        if public:
            return f"/media/{path}"
        settings = getattr(getattr(getattr(self.request, "app", None), "state", None), "settings", None)
        return signed_url(path, (settings or get_settings()).secret_key, time.time())

    def read_budget(self) -> ReadBudget:
        return read_budget(self.request)

    def _read_gate(self) -> tuple[Gate, str] | None:
        """The app's gate of expensive reads (domain.readgate) and this client's key in it."""
        gate = getattr(getattr(getattr(self.request, "app", None), "state", None), "read_gate", None)
        if gate is None:
            return None
        from schema.admission import client_address

        return gate, client_key(self.viewer.id if self.viewer else None, client_address(self.request))

    @contextmanager
    def expensive_read(self) -> Iterator[None]:
        """Hold one of the client's expensive-read slots while it runs."""
        held = self._read_gate()
        if held is None:
            yield
            return
        with held[0].enter(held[1]):
            yield

    def spare_read(self) -> Callable[[], None] | None:
        """One of the client's expensive-read slots if one is free (what gives it back), else
        None: a search's count run beside its page holds a slot of its own."""
        held = self._read_gate()
        return (lambda: None) if held is None else held[0].spare(held[1])

    def require_viewer(self) -> Viewer:
        if self.viewer is None:
            raise Unauthenticated()
        return self.viewer


Info = _Info[Context, None]
