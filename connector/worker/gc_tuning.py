"""The garbage collector of the worker process and of each web worker process
(``connector/gunicorn_worker.py``): few collections, and none over start-up objects.

Every delivery allocates thousands of short-lived containers (the parsed order, the mapped
payload, the HTTP exchange); at CPython's default gen-0 threshold of 700 they set off a
collection every few hundred microseconds, and each older-generation collection walks every
long-lived object of the process (modules, settings, the country and currency tables):
profiled under ``bench/deliver.py``, cyclic GC was ~0.6 ms of ~5 ms CPU per order. After
start-up, :func:`gc.freeze` moves what exists out of every later collection, and a higher gen-0
threshold runs the collector less often; cycles are still collected (reference counting frees
everything else at once, as before).
"""

from __future__ import annotations

import gc

GEN0_THRESHOLD = 10_000
GEN1_THRESHOLD = 20
GEN2_THRESHOLD = 100


def tune_gc_for_worker() -> None:
    """Call once, when the process has started (not in a process that runs tests)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GEN0_THRESHOLD, GEN1_THRESHOLD, GEN2_THRESHOLD)
