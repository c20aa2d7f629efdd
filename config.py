"""Settings, read once from the environment (see README "Configuration")."""

from __future__ import annotations

import base64
import functools
import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("warga")

ROOT = Path(__file__).resolve().parent
DATA_DIR = ROOT / "data"


def _var_dir() -> Path:
    path = Path(os.environ.get("WARGA_VAR_DIR", "var")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept under ./var/."""
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    path = _var_dir() / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
        log.warning("SECRET_KEY is not set: generated one in %s (set it in production)", path)
    return path.read_text().strip()


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    return default if not value else value not in ("0", "false", "no", "off")


def _float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


def _vapid_private_key() -> str:
    """VAPID_PRIVATE_KEY (base64url of the raw P-256 scalar, or PEM) from the environment, else a
    key pair generated once into ./var/ like the secret key: browsers bind each push
    subscription to the public key, so it must survive restarts and be the same on every process."""
    key = os.environ.get("VAPID_PRIVATE_KEY")
    if key:
        return key.strip()
    path = _var_dir() / "vapid_private_key"
    if not path.exists():
        from cryptography.hazmat.primitives.asymmetric import ec

        scalar = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value
        path.write_text(base64.urlsafe_b64encode(scalar.to_bytes(32, "big")).rstrip(b"=").decode())
        path.chmod(0o600)
        log.warning("VAPID_PRIVATE_KEY is not set: generated one in %s (set it in production)", path)
    return path.read_text().strip()


# The push services of the browsers and platforms in use (Chrome/Android, Firefox, Edge/Windows,
# Safari/iOS): a subscription's endpoint must be on one of these unless PUSH_ENDPOINT_HOSTS says
# otherwise, so the server never POSTs to an address the operator did not allow.
DEFAULT_PUSH_HOSTS = (
    "fcm.googleapis.com,android.googleapis.com,updates.push.services.mozilla.com,"
    "*.push.services.mozilla.com,*.notify.windows.com,web.push.apple.com,*.push.apple.com"
)


def _default_db_url() -> str:
    return f"sqlite://{_var_dir() / 'warga.sqlite3'}"


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default_factory=lambda: os.environ.get("DATABASE_URL") or _default_db_url())
    broadcast_url: str = field(default_factory=lambda: os.environ.get("BROADCAST_URL", "memory://"))
    secret_key: str = field(default_factory=_secret_key)
    media_root: Path = field(
        default_factory=lambda: Path(os.environ.get("MEDIA_ROOT") or _var_dir() / "media").resolve()
    )
    host: str = field(default_factory=lambda: os.environ.get("HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: int(os.environ.get("PORT", "8000")))
    regions_geojson: str | None = field(default_factory=lambda: os.environ.get("REGIONS_GEOJSON"))
    token_ttl_hours: int = field(default_factory=lambda: int(os.environ.get("TOKEN_TTL_HOURS", "720")))
    auto_close_days: float = field(default_factory=lambda: float(os.environ.get("AUTO_CLOSE_DAYS", "7")))
    close_stale_interval: float = field(
        default_factory=lambda: float(os.environ.get("CLOSE_STALE_INTERVAL_SECONDS", "600"))
    )
    db_pool_max: int = field(default_factory=lambda: int(os.environ.get("DB_POOL_MAX", "20")))
    # Each pooled session's memory per sort or bitmap (PostgreSQL's `work_mem`; "" leaves the
    # server's own). At the server's default 4MB the bitmap of a medium word's 97,504 matches
    # on a year went lossy: every report on 5,223 pages rechecked, its capped count 152 ms
    # against 72-79 ms at 16MB (bench/README.md, session 13). At most DB_POOL_MAX times this
    # per process, and only while a statement needs it.
    db_work_mem: str = field(default_factory=lambda: os.environ.get("DB_WORK_MEM", "16MB"))
    # How many pages a pooled session's bitmap scan asks the disk for ahead of reading them
    # (PostgreSQL's `effective_io_concurrency`; "" leaves the server's own, 1 by default, and
    # so does a server that cannot read ahead: models/pool.py set_optional): the pages a
    # search or a circle reads after a restart come from disk, one at a time without it. SSDs
    # and networked volumes serve many at once (bench/README.md, session 15).
    db_io_concurrency: str = field(default_factory=lambda: os.environ.get("DB_IO_CONCURRENCY", "64"))
    # GraphQL documents: refused before any execution beyond these (schema/limits.py).
    graphql_max_depth: int = field(default_factory=lambda: _int("GRAPHQL_MAX_DEPTH", 10))
    graphql_max_aliases: int = field(default_factory=lambda: _int("GRAPHQL_MAX_ALIASES", 100))
    graphql_max_tokens: int = field(default_factory=lambda: _int("GRAPHQL_MAX_TOKENS", 5000))
    graphql_max_cost: int = field(default_factory=lambda: _int("GRAPHQL_MAX_COST", 25000))
    graphql_introspection: bool = field(default_factory=lambda: _flag("GRAPHQL_INTROSPECTION", True))
    graphiql: bool = field(default_factory=lambda: _flag("GRAPHIQL", True))
    # "anonymous": signed-out clients may only run the registered documents (schema/documents.json).
    graphql_trusted_documents: str = field(
        default_factory=lambda: os.environ.get("GRAPHQL_TRUSTED_DOCUMENTS", "off").strip().lower()
    )
    # Rate limits (README "Abuse"): per user and per client address.
    reports_per_minute: int = field(default_factory=lambda: _int("REPORTS_PER_MINUTE", 30))
    uploads_per_minute: int = field(default_factory=lambda: _int("UPLOADS_PER_MINUTE", 30))
    comments_per_minute: int = field(default_factory=lambda: _int("COMMENTS_PER_MINUTE", 30))
    writes_per_minute: int = field(default_factory=lambda: _int("WRITES_PER_MINUTE", 120))
    reports_per_minute_per_address: int = field(
        default_factory=lambda: _int("REPORTS_PER_MINUTE_PER_ADDRESS", 60)
    )
    register_per_hour_per_address: int = field(
        default_factory=lambda: _int("REGISTER_PER_HOUR_PER_ADDRESS", 20)
    )
    logins_per_minute_per_address: int = field(
        default_factory=lambda: _int("LOGINS_PER_MINUTE_PER_ADDRESS", 60)
    )
    rate_limit_max_keys: int = field(default_factory=lambda: _int("RATE_LIMIT_MAX_KEYS", 200_000))
    # Memory and time bounds of one request (README "Abuse").
    max_body_bytes: int = field(default_factory=lambda: _int("MAX_BODY_BYTES", 1024 * 1024))
    max_upload_bytes: int = field(default_factory=lambda: _int("MAX_UPLOAD_BYTES", 11 * 1024 * 1024))
    max_ws_message_bytes: int = field(default_factory=lambda: _int("MAX_WS_MESSAGE_BYTES", 256 * 1024))
    # A client whose documents keep being refused (serving/refusals.py): REFUSALS_FREE at once,
    # then REFUSALS_PER_SECOND; beyond that each refusal waits REFUSAL_DELAY_SECONDS.
    refusals_free: int = field(default_factory=lambda: _int("REFUSALS_FREE", 20))
    refusals_per_second: float = field(default_factory=lambda: _float("REFUSALS_PER_SECOND", 2))
    refusal_delay: float = field(default_factory=lambda: _float("REFUSAL_DELAY_SECONDS", 1))
    header_timeout: float = field(default_factory=lambda: _float("HEADER_TIMEOUT_SECONDS", 10))
    body_timeout: float = field(default_factory=lambda: _float("BODY_TIMEOUT_SECONDS", 60))
    body_idle_timeout: float = field(default_factory=lambda: _float("BODY_IDLE_TIMEOUT_SECONDS", 10))
    keep_alive_timeout: int = field(default_factory=lambda: _int("KEEP_ALIVE_SECONDS", 5))
    ws_init_timeout: float = field(default_factory=lambda: _float("WS_INIT_TIMEOUT_SECONDS", 10))
    shutdown_timeout: float = field(default_factory=lambda: _float("SHUTDOWN_TIMEOUT_SECONDS", 10))
    max_image_pixels: int = field(default_factory=lambda: _int("MAX_IMAGE_PIXELS", 24_000_000))
    decodes_per_process: int = field(default_factory=lambda: _int("IMAGE_DECODES_PER_PROCESS", 2))
    uploads_per_user: int = field(default_factory=lambda: _int("UPLOADS_IN_FLIGHT_PER_USER", 2))
    # Operators (README "Operating").
    metrics_token: str | None = field(default_factory=lambda: os.environ.get("METRICS_TOKEN") or None)
    metrics_bind: str | None = field(default_factory=lambda: os.environ.get("METRICS_BIND") or None)
    log_format: str = field(default_factory=lambda: os.environ.get("LOG_FORMAT", "json"))
    # Notifications (domain/notifications*.py; README "Notifications")
    vapid_private_key: str = field(default_factory=_vapid_private_key)
    vapid_subject: str = field(
        default_factory=lambda: os.environ.get("VAPID_SUBJECT", "mailto:admin@localhost")
    )
    push_endpoint_hosts: str = field(
        default_factory=lambda: os.environ.get("PUSH_ENDPOINT_HOSTS", DEFAULT_PUSH_HOSTS)
    )
    smtp_url: str | None = field(default_factory=lambda: os.environ.get("SMTP_URL") or None)
    mail_from: str = field(default_factory=lambda: os.environ.get("MAIL_FROM", "Warga <no-reply@localhost>"))
    public_url: str = field(
        default_factory=lambda: os.environ.get("PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
    )
    notify_batch_seconds: float = field(default_factory=lambda: _float("NOTIFY_BATCH_SECONDS", 60))
    notify_lease_seconds: float = field(default_factory=lambda: _float("NOTIFY_LEASE_SECONDS", 60))
    notify_poll_seconds: float = field(default_factory=lambda: _float("NOTIFY_POLL_SECONDS", 1))
    notify_max_attempts: int = field(default_factory=lambda: _int("NOTIFY_MAX_ATTEMPTS", 8))

    # Reads (issue 16): each search statement's budget on PostgreSQL, where totalCount stops
    # counting, the searches one client may run at once.
    read_timeout_ms: int = field(default_factory=lambda: _int("READ_TIMEOUT_MS", 2000))
    total_count_cap: int = field(default_factory=lambda: _int("TOTAL_COUNT_CAP", 10_000))
    searches_per_client: int = field(default_factory=lambda: _int("SEARCHES_PER_CLIENT", 4))
    # Websockets one client keeps open (each process), and subscriptions on each: every event is
    # delivered to each subscription on the event loop. A signed-in user's are counted by user,
    # anyone else's by address (IPv6 by /64), generously: carrier NAT puts many phones behind one.
    sockets_per_user: int = field(default_factory=lambda: _int("SOCKETS_PER_USER", 8))
    sockets_per_address: int = field(default_factory=lambda: _int("SOCKETS_PER_ADDRESS", 64))
    subscriptions_per_socket: int = field(default_factory=lambda: _int("SUBSCRIPTIONS_PER_SOCKET", 16))

    # The garbage collector (subscriptions/heap.py): a burst of websocket connections is frozen
    # once none has come for GC_SETTLE_SECONDS, or every GC_BURST_CONNECTIONS while it lasts;
    # every GC_THAW_SECONDS (0: never) the whole heap is thawed and collected once.
    gc_settle_seconds: float = field(default_factory=lambda: _float("GC_SETTLE_SECONDS", 2))
    gc_burst_connections: int = field(default_factory=lambda: _int("GC_BURST_CONNECTIONS", 200))
    gc_thaw_seconds: float = field(default_factory=lambda: _float("GC_THAW_SECONDS", 0))
    # Allocations (net) before a youngest-generation collection (CPython: 700). Each delivery
    # allocates a dozen short-lived objects (the rendering, the queue's future, the stream's
    # next `asend`); collected every 700 allocations, thousands were in flight each time and
    # were promoted, then walked by a full collection and frozen. At 20,000 most die first: at
    # 19,500 subscribers and 20 events/s no automatic full collection ran in 30 s, p99 76-90 ->
    # 49-52 ms (bench/README.md, session 9).
    gc_young_threshold: int = field(default_factory=lambda: _int("GC_YOUNG_THRESHOLD", 20_000))
    # Unfrozen objects in the older generations before a full collection (its survivors
    # frozen). Under connection churn CPython's own triggers stall (see heap.Collector.collect):
    # the survivors of 20 s of young collections, ~470,000 objects at 19,500 connections,
    # waited for the next burst's freeze, whose collection walked them all (282-507 ms).
    # Walked 100,000 at a time, a full collection stays short (bench/README.md, session 10).
    gc_old_limit: int = field(default_factory=lambda: _int("GC_OLD_LIMIT", 100_000))

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgres://", "postgresql://", "asyncpg://"))


_settings: Settings | None = None


def get_settings() -> Settings:
    global _settings
    if _settings is None:
        _settings = Settings()
    return _settings


def reset_settings() -> None:
    """Re-read the environment (tests and the CLI change it)."""
    global _settings
    _settings = None


# Every pooled PostgreSQL session's settings (startup parameters, so RESET ALL keeps them).
# This service's statements are short and bounded; the planner's cost guesses for a blind
# (generic) plan of a search planned two parallel workers and JIT compilation, 41-75 ms to
# find no row where the plain plan takes 0.2 ms (bench/README.md, session 12), and two
# workers for a STAFF ranking's 1,855 rows took 19 of its 21 ms.
SESSION_SETTINGS = {"jit": "off", "max_parallel_workers_per_gather": "0"}


def tortoise_config(settings: Settings | None = None) -> dict:
    """Tortoise config for both backends; migrations live in models/migrations."""
    from tortoise.backends.base.config_generator import expand_db_url

    from models.pool import Connection, keep_session, set_optional

    s = settings or get_settings()
    connection: str | dict = s.database_url
    if s.is_postgres:
        url = s.database_url.replace("postgresql://", "postgres://", 1)
        sep = "&" if "?" in url else "?"
        connection = expand_db_url(f"{url}{sep}maxsize={s.db_pool_max}&minsize=2")
        optional = {"effective_io_concurrency": s.db_io_concurrency} if s.db_io_concurrency else {}
        connection["credentials"]["reset"] = functools.partial(keep_session, optional=optional)
        connection["credentials"]["init"] = functools.partial(set_optional, optional=optional)
        connection["credentials"]["connection_class"] = Connection
        memory = {"work_mem": s.db_work_mem} if s.db_work_mem else {}
        connection["credentials"]["server_settings"] = {**SESSION_SETTINGS, **memory}
    return {
        "connections": {"default": connection},
        "apps": {
            "warga": {
                "models": ["models"],
                "migrations": "models.migrations",
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def __getattr__(name: str) -> dict:
    """`config.TORTOISE_ORM` for Tortoise's own CLI (`tortoise -c config.TORTOISE_ORM ...`)."""
    if name == "TORTOISE_ORM":
        return tortoise_config()
    raise AttributeError(name)
