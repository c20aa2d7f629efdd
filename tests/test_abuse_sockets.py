"""Issue 12 over real sockets: slow headers and bodies, idle websockets that never say
hello (both subprotocols), oversized websocket messages, and what the logs say."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.conftest import free_port, served, stop_process
from tests.helpers import LOGIN, REGISTER
from tests.ws import LEGACY_WS, TRANSPORT_WS, GraphQLWebSocket

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
async def guarded(app: Any) -> AsyncIterator[tuple[str, int]]:
    """The app behind uvicorn with `warga serve`'s options and short timeouts."""

    from serving.guard import Guard
    from serving.options import uvicorn_options
    from serving.protocol import protocol_class

    settings = replace(app.state.settings, header_timeout=0.6, body_idle_timeout=0.6, body_timeout=2.0)
    view = app.state.graphql
    saved = view.connection_init_wait_timeout
    view.connection_init_wait_timeout = timedelta(seconds=0.6)
    options = uvicorn_options(settings, log_level="warning", access_log=False)
    options.pop("log_config")  # the test process keeps its own logging
    options["http"] = protocol_class(
        settings.header_timeout, (settings.max_body_bytes, settings.max_upload_bytes)
    )
    inner = Guard(
        app,
        max_body_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
        max_ws_message_bytes=settings.max_ws_message_bytes,
        body_timeout=settings.body_timeout,
        body_idle_timeout=settings.body_idle_timeout,
    )
    try:
        async with served(inner, **options) as address:
            yield address
    finally:
        view.connection_init_wait_timeout = saved


async def _read_all(reader: asyncio.StreamReader, timeout: float) -> tuple[bytes, float]:
    """Everything until the server closes the connection, and when it did."""
    started = time.monotonic()
    data = await asyncio.wait_for(reader.read(), timeout)
    return data, time.monotonic() - started


async def test_a_connection_that_sends_nothing_is_closed(guarded):
    reader, writer = await asyncio.open_connection(*guarded)
    data, took = await _read_all(reader, 5)
    assert data.startswith(b"HTTP/1.1 408") and took < 2
    writer.close()


async def test_headers_trickled_a_byte_at_a_time_are_cut(guarded):
    reader, writer = await asyncio.open_connection(*guarded)
    started = time.monotonic()
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100

    async def trickle() -> None:
        for byte in head:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.05)

    sender = asyncio.create_task(trickle())
    data = await asyncio.wait_for(reader.read(), 5)
    sender.cancel()
    assert data.startswith(b"HTTP/1.1 408") and time.monotonic() - started < 2
    writer.close()


@pytest.mark.parametrize("head", [b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ", b"GET /healthz?a="])
async def test_a_head_past_its_size_is_refused_with_431(guarded, head):
    """One header (or a URL) streamed as fast as a client can: httptools copied what it had
    of it on every chunk until the header timeout, 100 MB in 10 s, an honest /healthz 2.5-8.5 s
    meanwhile (helper review). Refused with a 431 past MAX_HEADER_BYTES, well before the
    timeout's 408; a request with 13 kB of ordinary headers is served."""
    from telemetry.metrics import HTTP_REFUSED

    refused = HTTP_REFUSED.labels("header_too_large")
    before = refused._value.get()
    reader, writer = await asyncio.open_connection(*guarded)
    started = time.monotonic()

    async def stream() -> None:
        writer.write(head)
        with contextlib.suppress(ConnectionError):
            for _ in range(2_000):
                writer.write(b"a" * 4096)
                await writer.drain()

    sender = asyncio.create_task(stream())
    try:  # the 431, or a reset: the server closed with the client's bytes still unread
        data = await asyncio.wait_for(reader.read(), 5)
    except ConnectionResetError:
        data = b""
    took = time.monotonic() - started
    sender.cancel()
    writer.close()
    assert data.startswith(b"HTTP/1.1 431") or data == b"", data[:80]
    assert took < 0.6 and refused._value.get() == before + 1, took  # not the timeout's 408
    async with httpx.AsyncClient(base_url=f"http://{guarded[0]}:{guarded[1]}") as honest:
        resp = await honest.get("/healthz", headers={f"x-h{i}": "v" * 100 for i in range(120)})
        assert resp.status_code == 200


async def test_a_body_that_stalls_is_cut_with_408_and_honest_clients_go_on(guarded):
    reader, writer = await asyncio.open_connection(*guarded)
    writer.write(
        b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        b'{"query": "{ __typ'
    )
    await writer.drain()
    data, took = await _read_all(reader, 5)
    assert b" 408 " in data.split(b"\r\n", 1)[0] and b"REQUEST_TIMEOUT" in data and took < 2
    writer.close()
    host, port = guarded
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as c:  # keep-alive works
        for _ in range(3):
            assert (await c.post("/graphql", json={"query": "{ __typename }"})).status_code == 200


async def test_a_body_trickled_slower_than_the_total_limit_is_cut(guarded):
    reader, writer = await asyncio.open_connection(*guarded)
    writer.write(
        b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n"
    )
    started = time.monotonic()

    async def trickle() -> None:
        for _ in range(500):
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(0.3)  # under the idle limit, never finishing within the total

    sender = asyncio.create_task(trickle())
    data = await asyncio.wait_for(reader.read(), 6)
    sender.cancel()
    assert b" 408 " in data.split(b"\r\n", 1)[0] and time.monotonic() - started < 3.5
    writer.close()


@pytest.fixture
async def counted() -> AsyncIterator[tuple[str, int, list[str]]]:
    """`warga serve`'s protocol (limits 1,000 bytes of body, 5,000 of upload) in front of an
    app that records every request it is called for."""

    from serving.protocol import DEFAULT, protocol_class

    if not DEFAULT.endswith("GuardedHttpToolsProtocol"):
        raise AssertionError("httptools is part of the lock: the body limit lives in its protocol")
    calls: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        calls.append(scope["path"])
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    async with served(app, http=protocol_class(5.0, (1000, 5000))) as (host, port):
        yield host, port, calls


@pytest.mark.parametrize("content_type", ["application/json", "multipart/form-data; boundary=x"])
async def test_a_declared_oversized_body_is_refused_before_the_app_and_not_read(counted, content_type):
    host, port, calls = counted
    limit = 5000 if content_type.startswith("multipart") else 1000
    reader, writer = await asyncio.open_connection(host, port)
    # The headers alone: the answer comes without a byte of the body, and the connection closes.
    writer.write(f"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
                 f"Content-Length: {limit + 1}\r\n\r\n".encode())  # fmt: skip
    await writer.drain()
    data, _ = await _read_all(reader, 5)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413") and b"x-content-type-options: nosniff" in head
    assert json.loads(body)["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    writer.close()
    assert calls == []
    # At the limit it is the app's.
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as c:
        resp = await c.post("/graphql", content=b"a" * limit, headers={"content-type": content_type})
    assert resp.status_code == 200 and calls == ["/graphql"]


async def test_a_chunked_body_is_cut_when_it_passes_the_limit(counted):
    host, port, _ = counted
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n")  # fmt: skip
    for _ in range(3):  # 1,200 bytes, and the chunked body never ends
        writer.write(b"190\r\n" + b"a" * 400 + b"\r\n")
    await writer.drain()
    data, _ = await _read_all(reader, 5)
    assert data.startswith(b"HTTP/1.1 413") and b"PAYLOAD_TOO_LARGE" in data
    writer.close()
    # The app saw the request start (a chunked body's size is unknown until it passes the
    # limit) and never answered it; the connection is gone, the next one is served.
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as c:
        assert (await c.post("/x", content=b"{}")).status_code == 200


async def test_a_client_that_keeps_sending_oversized_bodies_waits_for_each_further_413():
    """The protocol's refusals draw on the app's Slowdown (app.state.slowdown) as the app's own
    do: after the allowance, the 413 comes only after the delay, and nothing is read meanwhile."""
    from types import SimpleNamespace

    from domain.ratelimit import Slowdown
    from serving.protocol import protocol_class

    class App:
        state = SimpleNamespace(slowdown=Slowdown(free=2, per_second=0.01, delay=0.6))

        async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
            await send({"type": "http.response.body", "body": b"ok"})

    app = App()
    async with served(app, http=protocol_class(5.0, (1000, 5000))) as (host, port):
        waits = []
        for _ in range(4):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 1001\r\n\r\n")  # fmt: skip
            await writer.drain()
            data, took = await _read_all(reader, 5)
            assert data.startswith(b"HTTP/1.1 413") and b"PAYLOAD_TOO_LARGE" in data
            waits.append(took)
            writer.close()
        assert waits[0] < 0.45 and waits[1] < 0.45 and all(w >= 0.6 for w in waits[2:]), waits
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as c:  # honest: at once
            started = time.monotonic()
            assert (await c.post("/x", content=b"{}")).status_code == 200
            assert time.monotonic() - started < 0.45
    assert app.state.slowdown.slowed == 2


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_websockets_that_never_send_connection_init_are_closed(guarded, protocol):
    host, port = guarded
    started = time.monotonic()
    async with websockets.connect(f"ws://{host}:{port}/graphql", subprotocols=[protocol]) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4408
    assert time.monotonic() - started < 2.5
    # A client that does say hello in time keeps its socket past the limit.
    async with GraphQLWebSocket(f"ws://{host}:{port}/graphql", protocol) as ws:
        await asyncio.sleep(1.0)
        await ws.subscribe("subscription { reportCreated { id } }")
        await ws.nothing_more(0.2)


async def test_websocket_messages_over_the_limit_close_with_1009(app, guarded):
    host, port = guarded
    limit = app.state.settings.max_ws_message_bytes
    async with GraphQLWebSocket(f"ws://{host}:{port}/graphql", TRANSPORT_WS) as ws:
        big = {"id": "1", "type": "subscribe", "payload": {"query": "subscription { reportCreated { id } }",
                                                           "variables": {"x": "a" * (limit + 1)}}}  # fmt: skip
        await ws.send(big)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.ws.recv(), 5)
    assert closed.value.rcvd.code == 1009 and "too big" in closed.value.rcvd.reason


# ---------------------------------------------------------------- logs


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as err:
        return subprocess.Popen(
            [sys.executable, "-c", "import cli; cli.main()", *args],
            cwd=ROOT, env=env, stdout=err, stderr=subprocess.STDOUT,
        )  # fmt: skip


@pytest.fixture
async def served_process(app: Any, tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """`warga serve --workers 2` as operators run it, its stderr in a file."""
    port = free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "PORT": str(port), "METRICS_TOKEN": "scrape-me", "LOG_FORMAT": "json"}
    proc = _spawn(["serve", "--workers", "2"], env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as c:
            for _ in range(400):
                try:
                    if (await c.get("/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert proc.poll() is None, log.read_text()
                await asyncio.sleep(0.05)
        yield base, log
    finally:
        stop_process(proc, 15)


async def test_logs_are_json_with_a_request_id_and_never_a_secret(served_process):
    base, log = served_process
    password, key, token = "sangat-rahasia-9", "wk_live_abcdef0123456789", "tok.en-xyz-987"
    async with httpx.AsyncClient(base_url=base) as c:
        reg = {"handle": "logtest", "displayName": "L", "password": password}
        resp = await c.post("/graphql", json={"query": REGISTER, "variables": {"input": reg}})
        assert resp.status_code == 200
        await c.post(
            "/graphql",
            json={"query": LOGIN, "variables": {"input": {"login": "logtest", "password": password}}},
        )
        await c.get(f"/open311/v2/requests.json?api_key={key}&status=open")
        await c.post(f"/open311/v2/requests.json?api_key={key}", data={"api_key": key, "password": password})
        await c.get(f"/exports/reports.csv?token={token}", headers={"Authorization": f"Bearer {token}"})
        await c.get("/healthz", headers={"X-Request-ID": "trace-42"})
        # Both workers' counters add up in one scrape (prometheus-client's multiprocess mode).
        for _ in range(20):
            await c.post("/graphql", json={"query": "{ categories { id } }"})
        text = ""
        for _ in range(50):
            text = (await c.get("/metrics", headers={"Authorization": "Bearer scrape-me"})).text
            m = re.search(r'warga_graphql_requests_total\{kind="query",outcome="ok"\} (\d+)', text)
            if m and float(m.group(1)) >= 20:
                break
            await asyncio.sleep(0.1)
        assert m and float(m.group(1)) >= 20, text[:2000]
    await asyncio.sleep(0.3)
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is JSON
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    assert len(access) >= 6 and all(r["request_id"] for r in access)
    assert any(r["request_id"] == "trace-42" and "/healthz" in r["message"] for r in access)
    assert any("api_key=[REDACTED]" in r["message"] for r in access)
    text = log.read_text()
    for secret in (password, key, token):
        assert secret not in text
