"""Collector pauses are measured, and survivors leave the generations full collections walk."""

from __future__ import annotations

import gc

from subscriptions import heap


def test_survivors_are_frozen_and_pauses_counted():
    survivors = [{"connection": i} for i in range(10_000)]
    try:
        heap.freeze_survivors()
        assert gc.get_freeze_count() >= len(survivors)
        before = heap.PAUSES.status()["gen2"]["collections"]
        gc.collect()
        status = heap.PAUSES.status()
        assert status["gen2"]["collections"] == before + 1
        assert status["frozen"] >= len(survivors)
        assert status["gen2"]["max_ms"] >= 0.0
    finally:
        heap.unfreeze()
    assert gc.get_freeze_count() == 0
    assert heap.PAUSES.status()["frozen"] == 0
