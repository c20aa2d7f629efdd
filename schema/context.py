"""Per-request context: the viewer (from the bearer token) and the request's DataLoaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from strawberry.types import Info as _Info

from domain.auth import Viewer
from domain.errors import Unauthenticated
from domain.ratelimit import LoginGuard
from domain.tx import now
from domain.users import authenticate, viewer_of
from models import User
from resolvers.loaders import Loaders


@dataclass
class Context:
    request: Any
    response: Any = None
    user: User | None = None
    viewer: Viewer | None = None
    loaders: Loaders = field(default_factory=Loaders)
    connection_params: dict[str, Any] | None = None
    started: datetime = field(default_factory=lambda: now())

    async def authenticate(self, authorization: str | None) -> None:
        """Resolve the caller once per request (or websocket connection)."""
        user = await authenticate(authorization)
        if user is not None:
            self.user_changed(user)

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
        user = await User.get_or_none(id=self.user.id)
        if user is None:
            self.user = self.viewer = self.loaders.viewer = None
        else:
            self.user_changed(user)

    def require_viewer(self) -> Viewer:
        if self.viewer is None:
            raise Unauthenticated()
        return self.viewer


Info = _Info[Context, None]
