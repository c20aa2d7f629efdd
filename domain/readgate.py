"""A cap on the expensive reads (text searches) one client runs at once, so that one client
cannot hold every pooled connection (issue 16). Kept by the app (app.state.read_gate), keyed
by the signed-in user or else the client address."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from domain.errors import RateLimited


class ReadGate:
    def __init__(self, per_client: int) -> None:
        self.per_client = per_client
        self._active: dict[str, int] = {}

    @contextmanager
    def enter(self, client: str) -> Iterator[None]:
        """Run one expensive read for `client`; RATE_LIMITED while it already runs its cap."""
        running = self._active.get(client, 0)
        if self.per_client > 0 and running >= self.per_client:
            raise RateLimited(f"At most {self.per_client} searches at once; retry when one has answered.")
        self._active[client] = running + 1
        try:
            yield
        finally:
            left = self._active[client] - 1
            if left:
                self._active[client] = left
            else:
                del self._active[client]

    def running(self, client: str) -> int:
        return self._active.get(client, 0)
