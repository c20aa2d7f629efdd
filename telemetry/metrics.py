"""Prometheus metrics, one process or several (`warga serve --workers N`).

Every layer may record here (this module imports nothing of the project):

    from telemetry import metrics
    metrics.refused_document("QUERY_TOO_COMPLEX")   # a document refused before execution
    metrics.rate_limited("createReport/address")     # a rate-limit refusal, by rule

With several workers `warga serve` points PROMETHEUS_MULTIPROC_DIR at an empty directory
before the workers start; prometheus-client then keeps each process's values in files there
and `render()` sums them, so a scrape of any worker sees the whole server.
"""

from __future__ import annotations

import os
import re
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _mp

CONTENT_TYPE = CONTENT_TYPE_LATEST
_CODE = re.compile(r"^[A-Z][A-Z_]{0,39}$")

REQUESTS = Counter(
    "warga_graphql_requests_total",
    "GraphQL operations answered over HTTP, by kind (query, mutation, subscription, unknown) and outcome"
    " (ok or the first error's extensions.code)",
    ["kind", "outcome"],
)
LATENCY = Histogram(
    "warga_graphql_latency_seconds",
    "Time to answer a GraphQL operation over HTTP, by kind",
    ["kind"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
REFUSED = Counter(
    "warga_refused_documents_total", "Documents refused before execution, by reason", ["reason"]
)
RATE_LIMITED = Counter("warga_rate_limited_total", "Rate-limit refusals, by rule", ["rule"])
HTTP_REFUSED = Counter(
    "warga_http_refused_total",
    "Requests the server guard refused or cut (body_too_large, body_timeout, ws_message_too_big,"
    " ws_init_timeout, ws_malformed, header_timeout, header_too_large)",
    ["reason"],
)
CACHE = Counter(
    "warga_read_cache_total",
    "Read-cache lookups of anonymous queries, by result (hit, stale_hit, miss)",
    ["result"],
)
SUBSCRIBERS = Gauge(
    "warga_live_subscribers", "Live subscription streams (all processes)", multiprocess_mode="livesum"
)
EVENT_LAG = Histogram(
    "warga_event_lag_seconds",
    "From an event's commit to its delivery by a process's hub",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
UPLOADS_DECODING = Gauge(
    "warga_image_decodes_in_flight", "Uploads being decoded (all processes)", multiprocess_mode="livesum"
)


def outcome(code: Any) -> str:
    """A bounded label: a contract-like code, else OTHER (never a client-chosen string)."""
    return code if isinstance(code, str) and _CODE.match(code) else "OTHER"


_children: dict[tuple[str, str], tuple[Any, Any]] = {}  # (kind, outcome) -> bound metrics


def graphql_request(kind: str, result_code: str | None, seconds: float) -> None:
    """Counted on every request: the labelled children are looked up once per label pair
    (prometheus-client's `labels()` validates and locks on every call)."""
    found = _children.get((kind, result_code or "ok"))
    if found is None:
        label = kind if kind in ("query", "mutation", "subscription") else "unknown"
        result = "ok" if result_code is None else outcome(result_code)
        found = (REQUESTS.labels(label, result), LATENCY.labels(label))
        if len(_children) < 1024:  # bounded: outcome() maps anything unknown to OTHER
            _children[(kind, result_code or "ok")] = found
    found[0].inc()
    found[1].observe(seconds)


def refused_document(reason: str) -> None:
    """A document refused before execution (depth, aliases, tokens, cost, untrusted, ...)."""
    REFUSED.labels(outcome(reason)).inc()


def rate_limited(rule: str) -> None:
    RATE_LIMITED.labels(rule[:60]).inc()


def http_refused(reason: str) -> None:
    HTTP_REFUSED.labels(reason).inc()


def event_lag(seconds: float) -> None:
    if 0 <= seconds < 3600:  # a frozen test clock or a skewed host says nothing about lag
        EVENT_LAG.observe(seconds)


def events_delivered(created: Any) -> None:
    """The lag of events a hub has just fanned out (created_at: aware datetimes, written in
    the committing transaction)."""
    now = time.time()
    for at in created:
        event_lag(now - at.timestamp())


class CacheSampler:
    """Turns a cache's cumulative hits/misses/stale_hits into counter increments."""

    def __init__(self) -> None:
        self.seen = {"hit": 0, "stale_hit": 0, "miss": 0}

    def sample(self, cache: Any) -> None:
        if cache is None:
            return
        for result, attr in (("hit", "hits"), ("stale_hit", "stale_hits"), ("miss", "misses")):
            value = int(getattr(cache, attr, 0) or 0)
            delta = value - self.seen[result]
            if delta > 0:
                CACHE.labels(result).inc(delta)
            self.seen[result] = value  # a cleared cache restarts its counts: no negative step


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def render() -> bytes:
    if multiprocess():
        registry = CollectorRegistry()
        _mp.MultiProcessCollector(registry)
        return generate_latest(registry)
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY)


def mark_process_dead(pid: int) -> None:
    if multiprocess():
        _mp.mark_process_dead(pid)
