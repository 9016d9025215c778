"""The connector app of another checkout, served by this checkout's gunicorn setup.

For before/after figures in one run (``bench/ingest.py --baseline-root DIR``): the worker class,
its settings and the metrics set-up are this checkout's (gunicorn loaded them before the app),
the app and everything it imports are the other checkout's (``$BENCH_BASELINE_ROOT``)::

    gunicorn -c python:connector.gunicorn_conf 'bench.checkout_app:create_app()'
"""

from __future__ import annotations

import os
import sys
from typing import Any

# Loaded with gunicorn's configuration, before the app: these stay this checkout's.
SERVING_MODULES = ("connector.gunicorn_worker", "connector.gunicorn_conf", "connector.multiproc_metrics")


def create_app() -> Any:
    root = os.environ["BENCH_BASELINE_ROOT"]
    for name in [m for m in sys.modules if m == "connector" or m.startswith("connector.")]:
        if name not in SERVING_MODULES:
            del sys.modules[name]
    sys.path.insert(0, root)
    import connector.app

    if not os.path.realpath(str(connector.app.__file__)).startswith(os.path.realpath(root) + os.sep):
        raise RuntimeError(f"the app came from {connector.app.__file__}, not from {root}")
    return connector.app.create_app()
