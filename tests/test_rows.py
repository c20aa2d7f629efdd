"""models.sql.instance builds exactly what Tortoise's `_init_from_db` builds, for every model,
from rows as the database returns them (each dialect's own types), with nulls, and from
partial rows (left to Tortoise)."""

from __future__ import annotations

import inspect

from tortoise.models import Model

import models
from models.sql import fetch, instance
from tests.helpers import citizen, ok, report

MODELS = [m for m in vars(models).values()
          if inspect.isclass(m) and issubclass(m, Model) and m is not Model and not m._meta.abstract]  # fmt: skip


def _same(model: type[Model], row: dict) -> None:
    ours, theirs = instance(model, dict(row)), model._init_from_db(**dict(row))
    assert type(ours) is model
    assert vars(ours) == vars(theirs)
    assert ours.pk == theirs.pk


async def test_instances_equal_tortoises_for_every_model(client):
    token, _ = await citizen(client)
    made = await report(client, token, address="Jl. Medan Merdeka")
    await ok(client, "mutation($id: ID!) { addComment(reportId: $id, body: \"Sudah dilaporkan\") { id } }",
             {"id": made["id"]}, token)  # fmt: skip
    seen = 0
    for model in MODELS:
        rows = await fetch(f"SELECT * FROM {model._meta.db_table} ORDER BY 1 LIMIT 20")
        for row in rows:
            _same(model, row)
            nulled = {k: (None if model._meta.fields_map.get(k) is not None and model._meta.fields_map[k].null else v)
                      for k, v in row.items()}  # fmt: skip
            _same(model, nulled)
            seen += 1
            # A model's column short (a table may hold more, as report its stored `words`).
            dropped = [key for key in row if key in model._meta.fields_db_projection.values()][-1]
            partial = {key: value for key, value in row.items() if key != dropped}
            assert vars(instance(model, partial)) == vars(model._init_from_db(**partial))
            assert instance(model, partial)._partial is True
    assert seen >= 10  # users, regions, categories, the report, its comment and timeline
