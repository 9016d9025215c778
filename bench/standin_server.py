"""Run one of the test stand-ins as its own process (so benchmarks don't share its GIL).

    python bench/standin_server.py parcellab --latency 0.05   # prints the URL, serves until killed

``GET /__bench/requests`` answers the requests served so far, counted by method and path (ids in
the path shown as ``{id}``), so a benchmark can say which requests a delivered order cost.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

STANDINS = {
    "http": ("connector.sandbox.http_target", "HttpTargetStandIn", {}),
    # The http stand-in without its request log, for long runs (bench/soak.py).
    "http-lean": ("bench.standin_server", "LeanHttpTargetStandIn", {}),
    "parcellab": ("connector.sandbox.parcellab", "ParcellabStandIn", {"token": "bench-token"}),
    "foxdeli": ("connector.sandbox.foxdeli", "FoxdeliStandIn", {}),
}


def _lean_class():  # type: ignore[no-untyped-def]
    from connector.sandbox.http_target import HttpTargetStandIn
    from connector.sandbox.server import Request, Response

    class LeanHttpTargetStandIn(HttpTargetStandIn):
        """Keeps documents and write counts, forgets the request log (memory stays flat)."""

        def handle(self, request: Request) -> Response:
            with self.lock:
                self.requests.clear()
            return super().handle(request)

    return LeanHttpTargetStandIn


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    if name == "LeanHttpTargetStandIn":
        return _lean_class()
    raise AttributeError(name)


COUNT_PATH = "/__bench/requests"
_ID_SEGMENT = re.compile(r"/[^/]*[0-9][^/]*")  # a path segment holding a digit: an id


def request_kind(method: str, path: str) -> str:
    """``PATCH /tracking/api/v1/order/{id}``: what a request was, without its ids."""
    return f"{method} {_ID_SEGMENT.sub('/{id}', path)}"


def count_requests(standin: Any) -> None:
    """Make ``standin`` answer COUNT_PATH with the requests it served, by kind (not counting these)."""
    from connector.sandbox.server import Response

    handle = standin.handle

    def counted(request: Any) -> Any:
        if request.path != COUNT_PATH:
            return handle(request)
        with standin.lock:
            seen = Counter(request_kind(r.method, r.path) for r in standin.requests if r.path != COUNT_PATH)
        return Response(200, dict(seen))

    standin.handle = counted


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=sorted(STANDINS))
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    module_name, class_name, kwargs = STANDINS[args.kind]
    module = __import__(module_name, fromlist=[class_name])
    standin = getattr(module, class_name)(latency_s=args.latency, **kwargs)
    count_requests(standin)
    standin.start()
    print(standin.url, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    standin.stop()


if __name__ == "__main__":
    main()
