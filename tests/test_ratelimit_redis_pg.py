"""The rate limits' Redis store, shared by every process (PostgreSQL + Redis pass only; see
conftest.collect_ignore). Its scripts once failed for any rule whose interval was not whole
milliseconds (7 reports a minute: 8,571.4 ms), and the store then fell back to each process's
memory without a sound: every process had its own budget."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from config import Settings
from domain.ratelimit import PREFIX, Backoff, Limits, MemoryStore, RateLimiter, RedisStore, Rule, TooMany
from tests.conftest import REDIS_URL


@pytest.fixture
async def stores() -> AsyncIterator[tuple[RedisStore, RedisStore]]:
    """Two processes' stores on the same Redis."""
    a, b = RedisStore(REDIS_URL, MemoryStore()), RedisStore(REDIS_URL, MemoryStore())
    try:
        yield a, b
    finally:
        await a.clear()
        await a.close()
        await b.close()


def _limits(per_minute: int) -> Limits:
    """The service's limits, with `per_minute` reports a minute per user (and no bound per
    address: both stores' requests come from one)."""
    return Limits.of(Settings()).with_(
        reports_per_user=Rule("createReport/user", per_minute, 60),
        reports_per_address=Rule("createReport/address", 10**6, 60),
    )


def _fell_back(store: RedisStore) -> bool:
    return store._down_until > 0 or bool(store.fallback._data)


@pytest.mark.parametrize("per_minute", [7, 13, 60])
async def test_one_budget_across_processes_whatever_the_interval(stores, per_minute) -> None:
    a, b = stores
    user = int(uuid.uuid4().int % 10**9)
    limiters = [RateLimiter(a, _limits(per_minute)), RateLimiter(b, _limits(per_minute))]
    for i in range(per_minute):  # the burst, taken in turn by the two processes
        await limiters[i % 2].admit({"create_report": 1}, user, "10.1.2.3")
    for limiter in limiters:
        with pytest.raises(TooMany) as refused:
            await limiter.admit({"create_report": 1}, user, "10.1.2.3")
        assert 1 <= refused.value.retry_after <= 60 / per_minute + 1
    assert not _fell_back(a) and not _fell_back(b)
    ttl = await a.client.pttl(f"{PREFIX}createReport/user:u:{user}")
    assert 0 < ttl <= 60_000


async def test_backoff_with_a_fractional_base_is_shared(stores) -> None:
    a, b = stores
    backoff = Backoff("guess/test", 1, 0.3333, 0.75, 1.5)
    key = f"guess/test:{uuid.uuid4().hex}"
    await a.fail(key, backoff)
    assert await b.wait(key) == 0  # the free failure
    await b.fail(key, backoff)
    waited = await a.wait(key)
    assert 0.2 < waited <= 0.3333
    assert not _fell_back(a) and not _fell_back(b)
    assert 0 < await a.client.pttl(PREFIX + key) <= 1_900
