"""Who may be given the same answer: declared per field, never inferred.

The read cache (schema/cache.py) and subscription renderings (schema/fast.py) share one
computed answer between viewers. A field whose resolver is marked `EVERYONE` declares that it
answers the same to every viewer allowed to see its parent object (tests/test_privacy.py checks
the claim by asking as every kind of viewer). A plain attribute is data of its parent and
shares with it, as does a resolver that is not given `info` (it cannot know the viewer). Any
other resolver is per viewer: its selection is shared only between viewers of the same sight
(domain.visibility.sight: id, role, region and agency), so a role change is a new audience.
Two finer claims let per-report renderings be shared between viewers (schema/renderings.py):
OWN and PERSONAL below; both are still per viewer for whole answers.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from domain.visibility import sight

EVERYONE = {"share": "everyone"}
# Answers as to a signed-out viewer unless the viewer is the object's own person (a report's
# author, the user themself) or staff: domain.visibility.sees_as_public. Declared on
# Report.author and on the User fields that only the user themself (or staff) sees more of.
OWN = {"share": "own"}
# The viewer's own relation to the object (whether they voted, follow): never shared, filled
# in per request on top of a shared rendering (schema/renderings.py).
PERSONAL = {"share": "personal"}
SHARED_BY_ALL = "everyone"  # the audience of a selection without per-viewer fields


def per_viewer(strawberry_field: Any) -> bool:
    """Whether this field's answer may differ between viewers who see its parent."""
    resolver = getattr(strawberry_field, "base_resolver", None)
    if resolver is None or resolver.info_parameter is None:
        return False
    return strawberry_field.metadata.get("share") != EVERYONE["share"]


def audience(selection_per_viewer: bool, viewer: Any) -> Hashable:
    """The key under which an answer may be shared: everyone, or the viewer's whole sight
    (every signed-out viewer has the same)."""
    return ("sight", sight(viewer)) if selection_per_viewer else SHARED_BY_ALL


SIGNED_OUT = audience(True, None)


def share_of(strawberry_field: Any) -> str | None:
    """The field's declared claim ("everyone", "own", "personal"), None when it makes none."""
    return strawberry_field.metadata.get("share") if strawberry_field is not None else None
