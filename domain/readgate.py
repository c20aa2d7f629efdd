"""Caps on what one client holds at once, so that no single client can take what everyone
shares: the expensive reads (text searches) it runs, which hold pooled connections (issue 16),
and the websockets it keeps open, each event's delivery costing the process per subscription
(session 16's review: 200 sockets of 100 subscriptions from one address stalled every client
for 1.1 s per new report). Kept by the app (app.state), keyed by the signed-in user or else
the client address."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial

from domain.errors import RateLimited


def client_key(user_id: int | None, address: str) -> str:
    """Whose share a request spends: its signed-in user's, else its address's (many citizens
    share an address behind a carrier's NAT; registering is budgeted per address)."""
    return f"user:{user_id}" if user_id is not None else f"ip:{address}"


class Gate:
    """At most `per_client` of one thing held at once per client (0: no cap)."""

    def __init__(self, per_client: int, what: str) -> None:
        self.per_client = per_client
        self.what = what
        self._active: dict[str, int] = {}

    def take(self, client: str) -> None:
        """One more for `client`; RATE_LIMITED while it already holds its cap."""
        held = self._active.get(client, 0)
        if self.per_client > 0 and held >= self.per_client:
            raise RateLimited(f"At most {self.per_client} {self.what} at once; retry when one has ended.")
        self._active[client] = held + 1

    def spare(self, client: str) -> Callable[[], None] | None:
        """One more for `client` if it holds fewer than its cap (what gives it back), else None:
        for work worth doing early only when the client has room (a search's count beside its
        page)."""
        if self.per_client > 0 and self._active.get(client, 0) >= self.per_client:
            return None
        self.take(client)
        return partial(self.give, client)

    def give(self, client: str) -> None:
        left = self._active.get(client, 0) - 1
        if left > 0:
            self._active[client] = left
        else:
            self._active.pop(client, None)

    @contextmanager
    def enter(self, client: str) -> Iterator[None]:
        """Hold one for `client` for the block."""
        self.take(client)
        try:
            yield
        finally:
            self.give(client)

    def running(self, client: str) -> int:
        return self._active.get(client, 0)
