"""In-process sliding-window limits (per key) against login guessing and report floods."""

from __future__ import annotations

import os
import time
from collections import deque

from domain.errors import RateLimited


class Limiter:
    def __init__(self, limit: int, window_seconds: float) -> None:
        self.limit = limit
        self.window = window_seconds
        self._hits: dict[str, deque[float]] = {}

    def hit(self, key: str, what: str) -> None:
        """Count one attempt; refuse with RATE_LIMITED past the limit."""
        now = time.monotonic()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            retry = int(hits[0] + self.window - now) + 1
            raise RateLimited(f"Too many {what}; try again in {retry} s.")
        hits.append(now)
        if len(self._hits) > 100_000:  # bound memory under a flood of distinct keys
            self._hits.clear()

    def reset(self, key: str) -> None:
        self._hits.pop(key, None)


failed_logins = Limiter(limit=10, window_seconds=15 * 60)
report_posts = Limiter(limit=int(os.environ.get("REPORTS_PER_MINUTE", "30")), window_seconds=60)
