"""A small GraphQL-over-websocket client speaking both subprotocols, for tests and benches."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
from typing import Any

import websockets

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"


class GraphQLWebSocket:
    def __init__(self, url: str, protocol: str, token: str | None = None):
        self.url = url
        self.protocol = protocol
        self.token = token
        self.ws: Any = None
        self._ids = itertools.count(1)

    async def __aenter__(self) -> GraphQLWebSocket:
        self.ws = await websockets.connect(self.url, subprotocols=[self.protocol], open_timeout=5)
        payload = {"authorization": f"Bearer {self.token}"} if self.token else {}
        await self.send({"type": "connection_init", "payload": payload})
        ack = await self.receive()
        if ack.get("type") != "connection_ack":
            raise ConnectionError(f"no ack: {ack}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def receive(self, timeout: float = 5.0) -> dict[str, Any]:
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            if message.get("type") in ("ka", "ping", "pong"):
                if message["type"] == "ping":
                    await self.send({"type": "pong"})
                continue
            return message

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        op_id = str(next(self._ids))
        kind = "subscribe" if self.protocol == TRANSPORT_WS else "start"
        await self.send(
            {"id": op_id, "type": kind, "payload": {"query": query, "variables": variables or {}}}
        )
        return op_id

    async def next(self, timeout: float = 5.0) -> tuple[str, dict[str, Any]]:
        """The next result: (operation id, data). Errors raise."""
        message = await self.receive(timeout)
        if message["type"] in ("next", "data"):
            payload = message["payload"]
            if payload.get("errors"):
                raise AssertionError(payload["errors"])
            return message["id"], payload["data"]
        raise AssertionError(f"unexpected message {message}")

    async def take(self, n: int, timeout: float = 5.0) -> list[tuple[str, dict[str, Any]]]:
        return [await self.next(timeout) for _ in range(n)]

    async def nothing_more(self, wait: float = 0.4) -> None:
        try:
            message = await self.receive(wait)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected extra message {message}")


class StalledClient:
    """A graphql-transport-ws client on a bare socket that stops reading after subscribing
    (a phone in a tunnel): nothing in this process drains the socket until `read_all`."""

    def __init__(self, host: str, port: int, rcvbuf: int = 4096) -> None:
        self.host, self.port, self.rcvbuf = host, port, rcvbuf
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self, query: str, variables: dict[str, Any] | None = None) -> None:
        import base64
        import os

        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (self.host, self.port))
        # A small stream limit: asyncio stops reading the socket once 128 kB are buffered.
        self.reader, self.writer = await asyncio.open_connection(sock=sock, limit=2**16)
        key = base64.b64encode(os.urandom(16)).decode()
        self.writer.write(
            (
                f"GET /graphql HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Sec-WebSocket-Protocol: {TRANSPORT_WS}\r\n\r\n"
            ).encode()
        )
        status = await self.reader.readuntil(b"\r\n\r\n")
        assert b" 101 " in status.split(b"\r\n", 1)[0], status
        self._send({"type": "connection_init", "payload": {}})
        assert (await self._frame())["type"] == "connection_ack"
        self._send(
            {"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables or {}}}
        )

    def _send(self, message: dict[str, Any]) -> None:
        import os
        import struct

        payload = json.dumps(message).encode()
        mask = os.urandom(4)
        n = len(payload)
        header = bytes([0x81]) + (
            bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n)
        )
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert self.writer is not None
        self.writer.write(header + mask + masked)

    async def _frame(self) -> dict[str, Any]:
        import struct

        assert self.reader is not None
        while True:
            b0, b1 = await self.reader.readexactly(2)
            n = b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack(">H", await self.reader.readexactly(2))
            elif n == 127:
                (n,) = struct.unpack(">Q", await self.reader.readexactly(8))
            data = await self.reader.readexactly(n)
            if b0 & 0x0F == 0x1:
                return json.loads(data)
            if b0 & 0x0F == 0x9:  # ping: answer it
                self._send({"type": "pong"})

    async def read(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        out = []
        for _ in range(n):
            message = await asyncio.wait_for(self._frame(), timeout)
            assert message["type"] == "next", message
            out.append(message["payload"]["data"])
        return out

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
