"""The other ends of notifications, for tests: a Web Push receiver (a small ASGI app on a real
port that checks the VAPID signature and decrypts each message with the subscription's private
key, using http-ece, as a browser's push service and service worker together would) and an
SMTP server (aiosmtpd) that keeps the mails it receives."""

from __future__ import annotations

import asyncio
import base64
import email
import json
import time
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default
from typing import Any

import http_ece
from aiosmtpd.controller import Controller
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Device:
    """A browser's side of one push subscription: its key pair and auth secret (RFC 8291)."""

    name: str
    base: str
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: __import__("os").urandom(16))

    @property
    def endpoint(self) -> str:
        return f"{self.base}/push/{self.name}"

    def subscription(self) -> dict[str, Any]:
        """What PushSubscription.toJSON() gives."""
        point = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"endpoint": self.endpoint, "keys": {"p256dh": b64(point), "auth": b64(self.auth)}}


@dataclass
class Delivery:
    device: str
    payload: dict[str, Any]
    headers: dict[str, str]
    at: float

    def items(self) -> list[dict[str, Any]]:
        """The notifications in this push, in order (a batch lists several)."""
        return self.payload.get("items") or [self.payload]


class PushReceiver:
    def __init__(self, vapid_public_key: str | None = None) -> None:
        self.vapid_public_key = vapid_public_key
        self.devices: dict[str, Device] = {}
        self.deliveries: list[Delivery] = []
        self.requests: list[tuple[str, float]] = []
        self.script: dict[str, list[tuple[int, dict[str, str]]]] = {}
        self.hold: asyncio.Event | None = None
        self.held = 0
        self.problems: list[str] = []
        self.port = 0
        self._serving: AbstractAsyncContextManager[tuple[str, int]] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def device(self, name: str) -> Device:
        self.devices[name] = Device(name, self.base)
        return self.devices[name]

    def answer(self, name: str, *statuses: int, retry_after: str | None = None) -> None:
        """The next answers to this device's pushes (then 201s)."""
        headers = {"Retry-After": retry_after} if retry_after else {}
        self.script.setdefault(name, []).extend((s, headers) for s in statuses)

    def items(self, name: str) -> list[dict[str, Any]]:
        return [item for d in self.deliveries if d.device == name for item in d.items()]

    async def _push(self, request: Request) -> Response:
        name = request.path_params["name"]
        self.requests.append((name, time.monotonic()))
        body = await request.body()
        if self.hold is not None:
            self.held += 1
            await self.hold.wait()
            return Response(status_code=503)  # never acknowledged: not delivered
        if self.script.get(name):
            status, headers = self.script[name].pop(0)
            if status >= 300:
                return Response(status_code=status, headers=headers)
        device = self.devices.get(name)
        if device is None:
            return Response(status_code=404)
        self._check_vapid(request.headers.get("authorization", ""))
        if request.headers.get("content-encoding") != "aes128gcm":
            self.problems.append("content-encoding is not aes128gcm")
        if len(body) > 4096:
            self.problems.append(f"payload of {len(body)} bytes is over 4096")
        plain = http_ece.decrypt(body, private_key=device.key, auth_secret=device.auth, version="aes128gcm")
        self.deliveries.append(Delivery(name, json.loads(plain), dict(request.headers), time.monotonic()))
        return Response(status_code=201)

    def _check_vapid(self, header: str) -> None:
        """RFC 8292: `vapid t=<ES256 JWT>, k=<public key>`, signed by the server's key, for this
        origin, unexpired, with a contact."""
        try:
            assert Vapid02.verify(header), "bad signature"
            parts = dict(p.strip().split("=", 1) for p in header.split(" ", 1)[1].split(","))
            claims = json.loads(unb64(parts["t"].split(".")[1]))
            assert claims["aud"] == self.base, claims
            assert claims["exp"] > time.time(), claims
            assert str(claims["sub"]).startswith(("mailto:", "https:")), claims
            if self.vapid_public_key is not None:
                assert parts["k"] == self.vapid_public_key, "not the server's VAPID key"
        except Exception as exc:
            self.problems.append(f"VAPID: {exc!r}")

    async def start(self) -> PushReceiver:
        from tests.conftest import served

        app = Starlette(routes=[Route("/push/{name}", self._push, methods=["POST"])])
        self._serving = served(app)
        _, self.port = await self._serving.__aenter__()
        return self

    async def stop(self) -> None:
        if self.hold is not None:
            self.hold.set()
        if self._serving is not None:
            await self._serving.__aexit__(None, None, None)


class MailBox:
    """An SMTP server (aiosmtpd, in its own thread) keeping every mail it accepts."""

    def __init__(self, port: int) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.controller = Controller(self, hostname="127.0.0.1", port=port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(email.message_from_bytes(envelope.content, policy=default))  # type: ignore[arg-type]
        return "250 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


async def until(predicate: Any, timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached in {timeout} s")
        await asyncio.sleep(0.05)
