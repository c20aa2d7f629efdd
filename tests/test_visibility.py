"""domain.visibility: each rule's Python form (for a loaded row) and SQL form (for a search)
agree on random data, on the backend under test."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.enums import ReportStatus, Role
from models.sql import arg

USERS = 4  # authors and viewers are drawn from the same few accounts, so "mine" happens often

rows = st.lists(
    st.tuples(st.sampled_from(list(ReportStatus)), st.booleans(), st.integers(0, USERS - 1), st.booleans()),
    min_size=1,
    max_size=12,
)
viewers = st.one_of(st.none(), st.tuples(st.integers(0, USERS - 1), st.sampled_from(list(Role))))


async def _city(specs: list[tuple[ReportStatus, bool, int, bool]]) -> tuple[list[Any], list[Any], list[Any]]:
    from datetime import UTC, datetime

    from domain.catalog import catalog
    from models import Comment, Report, User
    from tests.conftest import wipe

    await wipe()
    cat = catalog()
    kel = next(r for r in cat.regions.values() if r.level == "KELURAHAN")
    kec = cat.parent(kel)
    kota = cat.parent(kec) if kec else None
    assert kec is not None and kota is not None
    now = datetime.now(UTC)
    users = [
        await User.create(handle=f"u{i}", display_name=f"U{i}", password_hash="x", role=Role.CITIZEN)
        for i in range(USERS)
    ]
    reports, comments = [], []
    for n, (status, anonymous, author, deleted) in enumerate(specs):
        r = await Report.create(
            client_request_id=f"r{n}", author_id=users[author].id, anonymous=anonymous,
            category_id=next(iter(cat.categories)), kelurahan_id=kel.id, kecamatan_id=kec.id, kota_id=kota.id,
            status=status, lat=kel.lat, lng=kel.lng, description="x" * 10, created_at=now, updated_at=now,
        )  # fmt: skip
        reports.append(r)
        comments.append(await Comment.create(report_id=r.id, author_id=users[author].id, body="b", created_at=now,
                                             deleted_at=now if deleted else None))  # fmt: skip
    return users, reports, comments


async def _ids(sql: str, args: list[Any]) -> set[int]:
    from models.sql import fetch

    return {r["id"] for r in await fetch(sql, *args)}


@pytest.mark.usefixtures("app")
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(specs=rows, who=viewers)
async def test_python_and_sql_forms_agree(specs, who):
    from domain import visibility as vis
    from domain.auth import Viewer

    users, reports, comments = await _city(specs)
    viewer = None if who is None else Viewer(id=users[who[0]].id, role=who[1])

    def where(condition: str | None) -> str:
        return f" WHERE {condition}" if condition else ""

    args: list[Any] = []
    seen = await _ids("SELECT id FROM report" + where(vis.report_condition(viewer, args)), args)
    assert seen == {r.id for r in reports if vis.can_see_report(viewer, r)}

    args = []
    named = await _ids("SELECT id FROM report" + where(vis.attributed_condition(viewer, args)), args)
    assert named == {r.id for r in reports if vis.shows_author(viewer, r)}

    for author in users:
        args = []
        mine = await _ids(f"SELECT id FROM report WHERE {vis.by_author_condition(viewer, author.id, args)}", args)
        assert mine == {r.id for r in reports if r.author_id == author.id and vis.shows_author(viewer, r)}

    shown = await _ids(f"SELECT id FROM comment WHERE {vis.COMMENT_CONDITION}", [])
    assert shown == {c.id for c in comments if vis.comment_shown(c.deleted_at)}

    async def counted(who: Any, author_id: int) -> set[int]:
        """The reports User.reportsCount counts for this viewer (resolvers/loaders.py)."""
        args: list[Any] = []
        conditions = [f"author_id = {arg(args, author_id)}"]
        conditions += [c for c in (vis.report_condition(who, args), vis.attributed_condition(who, args)) if c]
        return await _ids(f"SELECT id FROM report WHERE {' AND '.join(conditions)}", args)

    # A viewer who sees a report as the public does (its rendering for the signed-out is shared
    # with them, schema/renderings.py) is shown exactly that of it and of its author.
    for r in reports:
        if not vis.sees_as_public(viewer, r):
            assert viewer is not None and (viewer.id == r.author_id or viewer.role in vis.SEES_REJECTED)
            continue
        assert vis.can_see_report(viewer, r) == vis.can_see_report(None, r)
        assert vis.shows_author(viewer, r) == vis.shows_author(None, r)
        assert not vis.may_see_contact(viewer, r.author_id) and not vis.may_see_settings(viewer, r.author_id)
        assert await counted(viewer, r.author_id) == await counted(None, r.author_id)
