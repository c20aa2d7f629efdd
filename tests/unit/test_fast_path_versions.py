"""The compiled fast path reads strawberry's and graphql-core's internals (resolver objects,
argument conversion, result coercion): it runs only on the versions it was built against."""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

from schema.fast import BUILT_AGAINST

ROOT = Path(__file__).resolve().parents[2]


def test_installed_versions_are_the_ones_the_fast_path_was_built_against() -> None:
    installed = {name: version(name) for name in BUILT_AGAINST}
    assert installed == BUILT_AGAINST, (
        f"installed {installed}, but schema/fast.py was built against {BUILT_AGAINST}: check the fast"
        " path against the new versions (tests/test_fast_path_differential.py, tests/test_fast_path.py),"
        " then update BUILT_AGAINST and the pins in pyproject.toml"
    )


def test_pyproject_pins_exactly_those_versions() -> None:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = {d.split("==")[0]: d.split("==")[1] for d in dependencies if "==" in d}
    assert {name: pins.get(name) for name in BUILT_AGAINST} == BUILT_AGAINST, (
        f"pyproject.toml must pin {BUILT_AGAINST} with ==, as schema/fast.py BUILT_AGAINST says"
    )
