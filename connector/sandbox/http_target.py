"""Stand-in for the generic ``http`` target: keeps orders by URL, counts every write.

It also notices concurrent deliveries of one order (``max_concurrent_per_order``), so tests
can prove two workers never deliver the same order at once.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from connector.sandbox.server import Request, Response, StandIn


class HttpTargetStandIn(StandIn):
    def __init__(self, latency_s: float = 0.0) -> None:
        super().__init__(latency_s)
        self.documents: dict[str, Any] = {}  # path → last JSON document
        self.deleted: set[str] = set()
        self.writes: Counter[str] = Counter()
        self.reject_paths: dict[str, tuple[int, Any]] = {}  # path → (status, body) forever
        self._active: Counter[str] = Counter()
        self.max_concurrent_per_order = 0
        self._guard = threading.Lock()

    def orders(self) -> dict[str, Any]:
        """Order documents only (not fulfillments), keyed by path."""
        return {p: d for p, d in self.documents.items() if p.count("/") == 3}

    def handle(self, request: Request) -> Response:
        path = request.path
        order_key = "/".join(path.split("/")[:4])
        with self._guard:
            self._active[order_key] += 1
            self.max_concurrent_per_order = max(self.max_concurrent_per_order, self._active[order_key])
        try:
            if path in self.reject_paths:
                status, body = self.reject_paths[path]
                return Response(status, body)
            if request.method == "PUT":
                with self.lock:
                    self.documents[path] = request.json()
                    self.writes[path] += 1
                return Response(200, {"id": f"remote-{path.rsplit('/', 1)[-1]}"})
            if request.method == "DELETE":
                with self.lock:
                    self.deleted.add(path)
                    self.writes[path] += 1
                return Response(204)
            return Response(405, {"error": "method"})
        finally:
            with self._guard:
                self._active[order_key] -= 1
