"""The one publish path: after a commit, tell every process that new events are in the log."""

from __future__ import annotations

import logging

from subscriptions.bus import bus

log = logging.getLogger("warga.events")

CHANNEL = "warga.events"

# This process's commits, as a version stamp for the read cache (schema/cache.py).
local_commits = 0


def committed() -> None:
    global local_commits
    local_commits += 1


async def publish(last_event_id: int) -> None:
    """Announce the log's new high-water mark. Never raises: the change is already committed,
    and the hubs also poll the log, so a lost announcement only delays delivery."""
    try:
        await bus().announce(last_event_id)
    except Exception:  # the row is stored; the client must not see a failure
        log.warning(
            "publish of event %s failed; hubs will pick it up from the log", last_event_id, exc_info=True
        )
