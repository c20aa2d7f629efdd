"""Rate limits that hold across processes, keyed by the client's address AND the account.

Two primitives, the same on both stores:

* a budget (GCRA, the "generic cell rate algorithm": `limit` actions per `period`, at most
  `limit` at once), reserved for several keys and several actions at a time, all or nothing.
  A request carrying 40 aliased `register` asks for 40 from its address's budget before any
  of them runs; one state value per key, so a key costs a few bytes and expires by itself;
* a backoff for failed password guesses: after `free` failures the next attempt must wait
  `base * 2^k` seconds (capped). It slows guessing down, it never locks an account: the
  owner's own address has its own (account, address) key, and an address from which the
  account logged in before is not slowed by failures on the account from elsewhere.

The store is Redis when BROADCAST_URL is redis:// (every process shares the counters; the
script runs atomically on Redis's clock), else this process's memory (the embedded default,
one process). The memory store is bounded: when full it drops what has expired, then the
entries that expire soonest, which are the least restrictive ones (an attacker who floods it
with junk keys drops other junk first: a counter under attack expires latest). If Redis is
unreachable the limiter falls back to the memory store of the process rather than refusing
everyone or letting everything through.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from domain.errors import RateLimited

log = logging.getLogger("warga.ratelimit")

PREFIX = "warga:rl:"


@dataclass(frozen=True)
class Rule:
    """At most `limit` actions per `period` seconds (a burst of `limit` at once)."""

    name: str
    limit: int
    period: float


@dataclass(frozen=True)
class Backoff:
    """After `free` failures, wait base*2^(n-free-1) s (at most `cap`) before the next try;
    the failures are forgotten `forget` seconds after the last one."""

    name: str
    free: int
    base: float
    cap: float
    forget: float

    def delay(self, failures: int) -> float:
        if failures <= self.free:
            return 0.0
        return min(self.cap, self.base * 2 ** min(failures - self.free - 1, 40))


@dataclass(frozen=True)
class Limits:
    register_per_address: Rule
    logins_per_address: Rule
    reports_per_user: Rule
    reports_per_address: Rule
    uploads_per_user: Rule
    comments_per_user: Rule
    writes_per_user: Rule
    guesses_per_account_address: Backoff
    guesses_per_address: Backoff
    guesses_per_account: Backoff
    known_address_seconds: float = 30 * 86400

    @classmethod
    def of(cls, s: Any) -> Limits:
        """From config.Settings."""
        return cls(
            register_per_address=Rule("register/address", s.register_per_hour_per_address, 3600),
            logins_per_address=Rule("login/address", s.logins_per_minute_per_address, 60),
            reports_per_user=Rule("createReport/user", s.reports_per_minute, 60),
            reports_per_address=Rule("createReport/address", s.reports_per_minute_per_address, 60),
            uploads_per_user=Rule("uploadMedia/user", s.uploads_per_minute, 60),
            comments_per_user=Rule("addComment/user", s.comments_per_minute, 60),
            writes_per_user=Rule("write/user", s.writes_per_minute, 60),
            guesses_per_account_address=Backoff("guess/account+address", 5, 1.0, 900, 3600),
            guesses_per_address=Backoff("guess/address", 30, 1.0, 900, 3600),
            guesses_per_account=Backoff("guess/account", 50, 1.0, 60, 3600),
        )

    def actions(self) -> dict[str, list[tuple[Rule, str]]]:
        """Which budgets each limited action spends, and whose (`user` or `address`)."""
        return {
            "register": [(self.register_per_address, "address")],
            "login": [(self.logins_per_address, "address")],
            "create_report": [(self.reports_per_user, "user"), (self.reports_per_address, "address")],
            # An upload holds one of the process's decoders up to a second; aliased by the
            # hundred in one request, one client held them for minutes (a review, session 16).
            "upload_media": [(self.uploads_per_user, "user")],
            "add_comment": [(self.comments_per_user, "user")],
            "write": [(self.writes_per_user, "user")],  # every other mutation (schema/admission.py)
        }

    def with_(self, **changes: Any) -> Limits:
        return replace(self, **changes)


def address_key(host: str | None) -> str:
    """IPv4 as is; IPv6 by its /64, which is what one subscriber gets (else rotating the low
    bits would be a fresh address per request)."""
    if not host:
        return "unknown"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False).network_address) + "/64"
    return str(ip)


class Slowdown:
    """A token bucket of refusals per client address: `free` at once, refilled at `per_second`;
    a refusal that finds the bucket empty waits `delay` seconds before it is answered. At most
    `max_clients` addresses are remembered (the least recent forgotten first, never all at
    once: flooding it with addresses forgets only the flooder's oldest)."""

    def __init__(
        self,
        free: int = 20,
        per_second: float = 2.0,
        delay: float = 1.0,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        on_slowed: Callable[[], None] | None = None,
    ) -> None:
        self.free, self.per_second, self.delay = free, per_second, delay
        self.on_slowed = on_slowed
        self.max_clients = max_clients
        self.clock = clock
        self.slowed = 0
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, when

    def wait(self, client: str) -> float:
        """Count one refusal of this client's; how long its answer is to wait."""
        now = self.clock()
        tokens, at = self._buckets.pop(client, (float(self.free), now))
        tokens = min(float(self.free), tokens + (now - at) * self.per_second)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = self.delay
            self.slowed += 1
            if self.on_slowed is not None:
                self.on_slowed()
        self._buckets[client] = (tokens, now)
        if len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return wait

    def delay_for(self, host: str | None) -> float:
        """wait() for the client at `host` (its address_key): every refusal (HTTP, websocket,
        a body over the limit) is counted here."""
        return self.wait(address_key(host))

    async def pause(self, host: str | None) -> None:
        """Count one refusal of the client at `host` and wait as long as it says."""
        delay = self.delay_for(host)
        if delay:
            await asyncio.sleep(delay)


def account_key(user_id: int | None, normalised_login: str) -> str:
    """A known account by its id (its handle, e-mail and phone share one counter); an unknown
    login by a hash of its normalised form (bounded key size, no plain login in the store)."""
    if user_id is not None:
        return f"u{user_id}"
    return "n" + hashlib.sha256(normalised_login.encode()).hexdigest()[:24]


# ---------------------------------------------------------------- stores


class Store(Protocol):
    async def take(self, items: list[tuple[str, float, float, int]]) -> float: ...
    async def wait(self, key: str) -> float: ...
    async def fail(self, key: str, b: Backoff) -> None: ...
    async def forget(self, key: str) -> None: ...
    async def mark(self, key: str, ttl: float) -> None: ...
    async def marked(self, key: str) -> bool: ...
    async def clear(self) -> None: ...
    async def close(self) -> None: ...


class MemoryStore:
    """One process's counters, bounded to `max_keys` entries (see the module docstring)."""

    def __init__(self, max_keys: int = 200_000, clock: Any = time.time) -> None:
        self.max_keys = max_keys
        self.clock = clock
        self._data: dict[str, tuple[float, Any]] = {}  # key -> (expires at, value)
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._data)

    def _get(self, key: str, now: float) -> Any:
        entry = self._data.get(key)
        if entry is None or entry[0] <= now:
            return None
        return entry[1]

    def _set(self, key: str, value: Any, expires: float, now: float) -> None:
        if key not in self._data and len(self._data) >= self.max_keys:
            self._make_room(now)
        self._data[key] = (expires, value)

    def _make_room(self, now: float) -> None:
        live = {k: v for k, v in self._data.items() if v[0] > now}
        target = int(self.max_keys * 0.9)
        if len(live) > target:
            # The soonest to expire are the least restrictive: dropping them can only let
            # through what would have been let through a little later anyway.
            keep = sorted(live.items(), key=lambda kv: kv[1][0])[len(live) - target :]
            self.evicted += len(live) - target
            live = dict(keep)
        self._data = live

    async def take(self, items: list[tuple[str, float, float, int]]) -> float:
        """items: (key, interval, period, cost). 0 when all were reserved, else the wait."""
        now = self.clock()
        news: list[tuple[str, float]] = []
        wait = 0.0
        for key, interval, period, cost in items:
            tat = max(self._get(key, now) or now, now)
            new = tat + interval * cost
            wait = max(wait, new - now - period)
            news.append((key, new))
        if wait > 0:
            return wait
        for key, new in news:
            self._set(key, new, new, now)
        return 0.0

    async def wait(self, key: str) -> float:
        now = self.clock()
        value = self._get(key, now)
        return max(0.0, value[1] - now) if value else 0.0

    async def fail(self, key: str, b: Backoff) -> None:
        now = self.clock()
        value = self._get(key, now)
        count = (value[0] if value else 0) + 1
        until = now + b.delay(count)
        self._set(key, (count, until), until + b.forget, now)

    async def forget(self, key: str) -> None:
        self._data.pop(key, None)

    async def mark(self, key: str, ttl: float) -> None:
        now = self.clock()
        self._set(key, True, now + ttl, now)

    async def marked(self, key: str) -> bool:
        return bool(self._get(key, self.clock()))

    async def clear(self) -> None:
        self._data.clear()

    async def close(self) -> None:
        return None


_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local news = {}
local wait = 0
for i = 1, #KEYS do
  local interval = tonumber(ARGV[i * 3 - 2])
  local period = tonumber(ARGV[i * 3 - 1])
  local cost = tonumber(ARGV[i * 3])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  local new = tat + interval * cost
  if new - now - period > wait then wait = new - now - period end
  news[i] = new
end
if wait > 0 then return wait end
for i = 1, #KEYS do
  -- PX takes whole milliseconds; an interval (60 s / 7) need not be one
  redis.call('SET', KEYS[i], news[i], 'PX', math.max(1, math.ceil(news[i] - now)))
end
return 0
"""
_WAIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local v = redis.call('HGET', KEYS[1], 'until')
if not v then return 0 end
local w = tonumber(v) - now
if w < 0 then return 0 end
return w
"""
_FAIL = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local count = redis.call('HINCRBY', KEYS[1], 'n', 1)
local free, base, cap, forget = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local delay = 0
if count > free then delay = math.min(cap, base * 2 ^ math.min(count - free - 1, 40)) end
redis.call('HSET', KEYS[1], 'until', now + delay)
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil(delay + forget)))
return count
"""


class RedisStore:
    """The same counters in Redis, shared by every process; each operation is one script."""

    DOWN_FOR = 2.0  # after a failure, go straight to memory for this long (no wait per request)

    def __init__(self, url: str, fallback: MemoryStore) -> None:
        import redis.asyncio as aioredis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # No retries and short timeouts: a request must not wait seconds on a Redis that is away.
        self.client = aioredis.from_url(
            url, socket_connect_timeout=0.25, socket_timeout=0.5, retry=Retry(NoBackoff(), 0)
        )
        self.fallback = fallback
        self._down_until = 0.0
        self._take = self.client.register_script(_TAKE)
        self._wait = self.client.register_script(_WAIT)
        self._fail = self.client.register_script(_FAIL)
        self._warned = 0.0

    def _up(self) -> bool:
        return time.monotonic() >= self._down_until

    def _down(self, exc: Exception) -> None:
        self._down_until = time.monotonic() + self.DOWN_FOR
        if time.monotonic() - self._warned > 60:
            self._warned = time.monotonic()
            log.warning(
                "rate limits: Redis failed (%s: %s); using this process's memory", type(exc).__name__, exc
            )

    async def take(self, items: list[tuple[str, float, float, int]]) -> float:
        if not self._up():
            return await self.fallback.take(items)
        try:
            args: list[Any] = []
            for _, interval, period, cost in items:
                args += [interval * 1000, period * 1000, cost]
            waited = await self._take(keys=[PREFIX + k for k, *_ in items], args=args)
            return float(waited) / 1000
        except Exception as exc:  # a Redis outage must not fail every mutation
            self._down(exc)
            return await self.fallback.take(items)

    async def wait(self, key: str) -> float:
        if not self._up():
            return await self.fallback.wait(key)
        try:
            return float(await self._wait(keys=[PREFIX + key])) / 1000
        except Exception as exc:
            self._down(exc)
            return await self.fallback.wait(key)

    async def fail(self, key: str, b: Backoff) -> None:
        if not self._up():
            return await self.fallback.fail(key, b)
        try:
            await self._fail(keys=[PREFIX + key], args=[b.free, b.base * 1000, b.cap * 1000, b.forget * 1000])
        except Exception as exc:
            self._down(exc)
            await self.fallback.fail(key, b)

    async def forget(self, key: str) -> None:
        if not self._up():
            return await self.fallback.forget(key)
        try:
            await self.client.delete(PREFIX + key)
        except Exception as exc:
            self._down(exc)
        await self.fallback.forget(key)

    async def mark(self, key: str, ttl: float) -> None:
        if not self._up():
            return await self.fallback.mark(key, ttl)
        try:
            await self.client.set(PREFIX + key, 1, px=int(ttl * 1000))
        except Exception as exc:
            self._down(exc)
            await self.fallback.mark(key, ttl)

    async def marked(self, key: str) -> bool:
        if not self._up():
            return await self.fallback.marked(key)
        try:
            return bool(await self.client.exists(PREFIX + key))
        except Exception as exc:
            self._down(exc)
            return await self.fallback.marked(key)

    async def clear(self) -> None:
        """Tests only: every key of this prefix in this Redis database."""
        keys = [k async for k in self.client.scan_iter(match=PREFIX + "*", count=1000)]
        if keys:
            await self.client.delete(*keys)
        await self.fallback.clear()

    async def close(self) -> None:
        await self.client.aclose()


# ---------------------------------------------------------------- the limiter


def _retry(seconds: float) -> int:
    return max(1, math.ceil(seconds))


class TooMany(RateLimited):
    """RATE_LIMITED with `extensions.retryAfter` (whole seconds) and the rule that refused."""

    def __init__(self, what: str, retry_after: float, rule: str) -> None:
        self.retry_after = _retry(retry_after)
        self.rule = rule
        super().__init__(f"Too many {what}; try again in {self.retry_after} s.")

    @property
    def extensions(self) -> dict[str, Any]:  # type: ignore[override]
        return {**super().extensions, "retryAfter": self.retry_after}


class RateLimiter:
    def __init__(self, store: Store, limits: Limits, on_limited: Any = None) -> None:
        self.store = store
        self.limits = limits
        self.on_limited = on_limited or (lambda rule: None)

    @classmethod
    def for_settings(cls, settings: Any, on_limited: Any = None) -> RateLimiter:
        memory = MemoryStore(settings.rate_limit_max_keys)
        url = settings.broadcast_url
        store: Store = RedisStore(url, memory) if url.startswith(("redis://", "rediss://")) else memory
        return cls(store, Limits.of(settings), on_limited)

    def _refuse(self, what: str, wait: float, rule: str) -> TooMany:
        self.on_limited(rule)
        return TooMany(what, wait, rule)

    async def admit(self, actions: dict[str, int], user_id: int | None, address: str) -> None:
        """Reserve every budget the request's actions spend, all at once, or none: raises
        TooMany (nothing reserved) when one of them has not enough left for the whole lot."""
        table = self.limits.actions()
        items: list[tuple[str, float, float, int]] = []
        names: list[str] = []
        for action, count in actions.items():
            for rule, scope in table.get(action, []):
                if scope == "user" and user_id is None:
                    continue
                if rule.limit <= 0:  # switched off entirely
                    raise self._refuse(f"requests ({action})", rule.period, rule.name)
                whose = f"a:{address}" if scope == "address" else f"u:{user_id}"
                items.append((f"{rule.name}:{whose}", rule.period / max(rule.limit, 1), rule.period, count))
                names.append(rule.name)
        if not items:
            return
        wait = await self.store.take(items)
        if wait > 0:
            what = ", ".join(sorted(actions))
            raise self._refuse(f"requests ({what})", wait, "+".join(dict.fromkeys(names)))

    def guard(self, address: str) -> LoginGuard:
        return LoginGuard(self, address)

    async def clear(self) -> None:
        await self.store.clear()

    async def close(self) -> None:
        await self.store.close()


class LoginGuard:
    """Password guessing, slowed per (account, address), per address and per account."""

    def __init__(self, limiter: RateLimiter, address: str) -> None:
        self.limiter = limiter
        self.address = address

    def _keys(self, account: str) -> list[tuple[str, Backoff]]:
        lim = self.limiter.limits
        return [
            (
                f"{lim.guesses_per_account_address.name}:{account}:{self.address}",
                lim.guesses_per_account_address,
            ),
            (f"{lim.guesses_per_address.name}:{self.address}", lim.guesses_per_address),
            (f"{lim.guesses_per_account.name}:{account}", lim.guesses_per_account),
        ]

    def _known(self, account: str) -> str:
        return f"known:{account}:{self.address}"

    async def check(self, account: str) -> None:
        """Before the password is even hashed: refuse while a backoff runs. The per-address
        and per-account ones do not apply where this account logged in successfully before."""
        store = self.limiter.store
        known = await store.marked(self._known(account))
        for i, (key, backoff) in enumerate(self._keys(account)):
            if i > 0 and known:
                break
            wait = await store.wait(key)
            if wait > 0:
                raise self.limiter._refuse("failed logins", wait, backoff.name)

    async def failed(self, account: str) -> None:
        for key, backoff in self._keys(account):
            await self.limiter.store.fail(key, backoff)

    async def succeeded(self, account: str) -> None:
        key, _ = self._keys(account)[0]
        await self.limiter.store.forget(key)
        await self.limiter.store.mark(self._known(account), self.limiter.limits.known_address_seconds)
