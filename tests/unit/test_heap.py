"""The freeze policy's decisions, for any sequence of connections and clock moves: a freeze only
after new connections, once their burst has settled or reached `burst` connections, never two
for one burst; a thaw every `thaw_every` seconds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from subscriptions.heap import FreezePolicy

SETTLE, BURST, THAW = 2.0, 5, 100.0

# Each step: seconds that pass, then connections that arrive, then the collector's tick.
steps = st.lists(st.tuples(st.floats(0, 5, allow_nan=False), st.integers(0, 7)), max_size=60)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _policy() -> FreezePolicy:
    return FreezePolicy(clock=Clock(), settle=SETTLE, burst=BURST, thaw_every=THAW)


@given(steps)
def test_freezes_follow_settled_or_large_bursts_and_thaws_are_periodic(moves):
    clock = Clock()
    policy = FreezePolicy(clock=clock, settle=SETTLE, burst=BURST, thaw_every=THAW)
    last_thaw = 0.0
    for seconds, arrivals in moves:
        clock.now += seconds
        pending_before = policy.pending
        quiet = clock.now - policy.last_arrival
        for _ in range(arrivals):
            policy.connected()
        if arrivals:
            quiet = 0.0
        action = policy.due()
        if clock.now - last_thaw >= THAW:
            assert action == "thaw"
            last_thaw = clock.now
        elif policy.pending == 0:
            assert action is None  # nothing new since the last freeze: no periodic freezing
        elif policy.pending >= BURST or quiet >= SETTLE:
            assert action == "freeze"
        else:
            assert action is None, (pending_before, arrivals, quiet)
        if action is not None:
            policy.done(action)
            assert policy.pending == 0
            assert policy.due() is None  # one freeze per burst


def test_the_collector_sets_its_thresholds_while_it_runs_and_restores_them():
    import gc

    from subscriptions.heap import FULL_AFTER_YOUNG, Collector

    before = gc.get_threshold()
    collector = Collector(_policy(), young=12_345, old=100_000)
    collector.start()
    try:
        assert gc.get_threshold() == (12_345, before[1], FULL_AFTER_YOUNG)
    finally:
        collector.stop()
    assert gc.get_threshold() == before


def test_the_youngest_generation_is_collected_by_its_real_size():
    """CPython's own trigger counts allocations minus deallocations of any object: freeing old
    objects hides new ones. The collector's tick looks at the generation itself."""
    import gc

    from subscriptions.heap import Collector

    collector = Collector(_policy(), young=500, old=10**9)
    gc.collect()
    gc.disable()  # only the collector's tick collects here
    try:
        assert collector.collect() is None  # nothing young yet
        kept = [[i] for i in range(2_000)]  # new, alive: the youngest generation grows past 500
        before = gc.get_stats()[0]["collections"]
        assert collector.collect() == 0
        assert gc.get_stats()[0]["collections"] == before + 1
        assert len(gc.get_objects(0)) < 500  # the survivors moved on
        assert collector.collect() is None
    finally:
        gc.enable()
    assert len(kept) == 2_000


def test_survivors_piling_up_in_the_older_generations_are_collected_and_frozen():
    """Young collections alone move survivors into the older generations, where CPython's
    trigger may never come: past `old` of them, a full collection walks them once and freezes
    what it keeps, so the next full collection (a burst's freeze) walks only newer ones."""
    import gc

    from subscriptions.heap import Collector

    collector = Collector(_policy(), young=500, old=5_000)
    collector.start()  # the start-up is frozen: the older generations are empty
    gc.disable()
    try:
        kept = []
        collected: list[int | None] = []
        for _ in range(20):
            kept.extend([i] for i in range(1_000))
            collected.append(collector.collect())
            unfrozen_old = len(gc.get_objects(1)) + len(gc.get_objects(2))
            assert unfrozen_old <= 5_000 + 1_500  # never much past the limit
        assert collected.count(2) >= 2 and collected.count(0) >= 5
        status = collector.status()
        assert status["survivors_frozen"] == collected.count(2)
        assert status["gen2"]["count"] == collected.count(2)
        assert len(gc.get_objects(2)) < 1_500  # the survivors went to the permanent generation
    finally:
        gc.enable()
        collector.stop()
    assert len(kept) == 20_000
