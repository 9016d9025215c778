"""Counters summed over gunicorn's workers: prometheus_client's multiprocess mode, set up by the
shipped gunicorn config (``connector/gunicorn_conf.py``) for every server start.

Each gunicorn worker is its own process with its own counters; without this, ``/metrics`` shows
whichever worker answered the scrape, and a counter jumps 9 → 1 → 9 between scrapes. In
multiprocess mode every worker writes its values to files in ``PROMETHEUS_MULTIPROC_DIR`` and the
one answering a scrape sums them all (https://prometheus.github.io/client_python/multiprocess/).

The directory must be empty when the server starts and be in the environment before a worker
imports prometheus_client (which chooses how values are kept at import), so :func:`prepare` runs
in gunicorn's ``on_starting`` hook, in the master, before any worker is forked; the master itself
never imports the app. An operator's own directory (the systemd unit sets one) is used and
emptied of old value files; otherwise a private one is created, and removed when the server
exits. No import of prometheus_client at module level, for the same reason.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile

ENV = "PROMETHEUS_MULTIPROC_DIR"
# The files prometheus_client writes: counter_<pid>.db, gauge_<mode>_<pid>.db, histogram_<pid>.db…
_VALUE_FILE = re.compile(r"\A(counter|histogram|summary|gauge_[a-z]+)_\d+\.db\Z")


_created: str | None = None  # the private directory this process made, removed at exit


def prepare() -> str:
    """The directory for this server start, set in the environment the workers inherit."""
    global _created
    directory = os.environ.get(ENV)
    if directory:
        os.makedirs(directory, exist_ok=True)
        clear(directory)
    else:
        directory = _created = tempfile.mkdtemp(prefix="connector-metrics-")
        os.environ[ENV] = directory
    return directory


def clear(directory: str) -> None:
    """Remove the value files a previous server left: their counts are not this server's."""
    for name in os.listdir(directory):
        if _VALUE_FILE.match(name):
            os.unlink(os.path.join(directory, name))


def worker_exited(pid: int) -> None:
    """A gunicorn worker is gone: its live gauges stop counting (its counters stay in the sum)."""
    if os.environ.get(ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def server_exited() -> None:
    """Remove the private directory; an operator's own is left to its owner (systemd removes it)."""
    if _created:
        shutil.rmtree(_created, ignore_errors=True)
