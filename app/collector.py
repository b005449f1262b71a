"""Python's cyclic garbage collector, set up for a long-running server or worker process.

Measured in `orderflow serve` under the open-loop bench (gc.callbacks timing each collection): with CPython's
defaults the collector cost several milliseconds of CPU per order, and each full (generation 2) collection walked
every object the process holds, the start-up heap (Flask, SQLAlchemy, the FEEL grammar, the parsed specs) included:
one every few dozen orders, 100 ms and more each, which set the tail latency. Reference counting frees almost all of
an order's objects; the collector is only needed for the few cycles, so it can run far less often."""

from __future__ import annotations

import gc

# Allocations (minus deallocations) of tracked objects before a young collection. CPython 3.11's 700 is reached
# several times inside one engine step (restoring a workflow alone allocates thousands of objects), so objects the
# step still uses survive, move to older generations and later count towards full collections. 2000 (CPython 3.13's
# default) measured best in the open loop: about 0.1 ms of collector CPU per order and pauses under 10 ms; 10,000 cost
# as much CPU with pauses to 13 ms, 50,000 pauses of 60 ms (each young collection then also walks the live objects of
# the orders in flight).
YOUNG_THRESHOLD = 2000


def settle_after_start_up() -> None:
    """Call once start-up is done (app built, migrations run, shipped workflows deployed, workers started): free
    start-up garbage, then move everything still alive out of the collector's generations (gc.freeze), so no later
    collection walks it again; and raise the young generation's threshold (YOUNG_THRESHOLD).

    Frozen objects are still freed by reference counting; only cycles among them would stay (start-up objects
    live as long as the process anyway). In a process that forks afterwards (Celery's prefork pool), frozen
    objects are also never written by the collector, so the children share their memory pages."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
