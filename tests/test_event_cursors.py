"""Cursors a client hands back to `reportEvents(after:)`: the ones Warga gave out (whatever
version of it) are accepted; anything else, however large or odd, is BAD_USER_INPUT on the
`after` field, never an internal error."""

from __future__ import annotations

import base64

import pytest

from tests.helpers import citizen, report
from tests.ws import LEGACY_WS, TRANSPORT_WS, GraphQLWebSocket

EVENTS = """subscription($after: String) { reportEvents(after: $after) { cursor kind report { id } } }"""


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


async def _first(ws: GraphQLWebSocket) -> dict:
    message = await ws.receive()
    if message["type"] in ("next", "data"):
        return message["payload"]
    return {"errors": message.get("payload")} if message["type"] == "error" else {"message": message}


BAD = [
    "not base64 at all!",
    _cursor("e:1:2:3"),
    _cursor("x:1:2"),
    _cursor(f"e:{10**30}:1"),
    _cursor(f"e:1:{2**63}"),
    _cursor("e:-1:5"),
    _cursor("e:\u00b2:1"),
    _cursor("e: 1:1"),
    _cursor("\x00"),
]


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_bad_cursors_are_bad_user_input(app, client, live_url, protocol):
    for after in BAD:
        async with GraphQLWebSocket(f"ws://{live_url}/graphql", protocol) as ws:
            await ws.subscribe(EVENTS, {"after": after})
            payload = await _first(ws)
            errors = payload.get("errors")
            assert errors, (after, payload)
            error = errors[0] if isinstance(errors, list) else errors
            assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "after"}, (after, error)


async def test_old_cursors_are_still_accepted(app, client, live_url):
    """The cursor format is unchanged (e:<tx>:<id>): one from the start of the log and one a
    client kept from an earlier delivery both replay what follows them."""
    token, _ = await citizen(client)
    made = [await report(client, token) for _ in range(3)]
    async with GraphQLWebSocket(f"ws://{live_url}/graphql", TRANSPORT_WS) as ws:
        await ws.subscribe(EVENTS, {"after": _cursor("e:0:0")})
        got = [d["reportEvents"] for _, d in await ws.take(3)]
    assert [g["report"]["id"] for g in got] == [m["id"] for m in made]
    async with GraphQLWebSocket(f"ws://{live_url}/graphql", TRANSPORT_WS) as ws:
        await ws.subscribe(EVENTS, {"after": got[0]["cursor"]})
        again = [d["reportEvents"] for _, d in await ws.take(2)]
        await ws.nothing_more()
    assert again == got[1:]
