"""The chaos run, short: real gunicorn (3 workers) + two workers + the chaos parcelLab stand-in.

A smaller workload and fault quota than ``python bench/chaos.py --webhooks 5000`` (which the
README's numbers come from), bounded to about a minute here: every kind of fault still happens
several times — worker SIGKILLs, target 500 / 429 + Retry-After / hang past the timeout /
refused connections, and SQLite's write lock held past the busy timeout.
"""

from __future__ import annotations

import pytest

from bench.chaos import FAULT_KINDS, ChaosConfig, report, run_chaos

pytestmark = pytest.mark.slow


def test_chaos_nothing_lost_duplicated_or_stale(tmp_path):
    cfg = ChaosConfig(webhooks=900, orders=60, min_faults=3, duration_s=30, seed=11,
                      drain_timeout_s=60, max_chaos_s=90, workdir=str(tmp_path), verbose=False)
    result = run_chaos(cfg)
    print(report(result))
    assert all(result["faults"].get(kind, 0) >= 3 for kind in FAULT_KINDS), result["faults"]
    # Exact re-sends happened (answered from the journal, they are told apart when filed):
    # "duplicated" below counts what they would have made twice.
    assert result["webhooks_accepted"] >= 900 and result["duplicate_sends"] > 0
    assert (result["lost"], result["duplicated"], result["stale"]) == (0, 0, 0), report(result)
    assert result["regression_count"] == 0 and not result["unexpected_exits"], report(result)
    assert result["ok"], report(result)
