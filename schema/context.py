"""Per-request context: the viewer (from the bearer token) and the request's DataLoaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from strawberry.types import Info as _Info

from config import get_settings
from domain.auth import Viewer, bearer, read_token
from domain.errors import Unauthenticated
from domain.tx import now
from domain.users import viewer_of
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
        """Resolve the caller once. A token that is present but invalid is an error, not
        silently anonymous, so the app knows to log in again."""
        token = bearer(authorization)
        if token is None:
            if authorization:
                raise Unauthenticated("Malformed Authorization header; use `Bearer <token>`.")
            return
        user_id = read_token(token, get_settings().secret_key)
        user = await User.get_or_none(id=user_id) if user_id is not None else None
        if user is None:
            raise Unauthenticated("Invalid or expired token; log in again.")
        self.user = user
        self.viewer = viewer_of(user)
        self.loaders.viewer_id = user.id
        self.loaders.users.prime(user.id, user)

    def require_viewer(self) -> Viewer:
        if self.viewer is None:
            raise Unauthenticated()
        return self.viewer


Info = _Info[Context, None]
