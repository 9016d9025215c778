"""A minimal receiver for the generic ``http`` target: keeps each PUT document, counts writes."""

from __future__ import annotations

from collections import Counter
from typing import Any

from connector.sandbox.server import Request, Response, StandIn


class TrackingTargetStandIn(StandIn):
    def __init__(self) -> None:
        super().__init__()
        self.documents: dict[str, Any] = {}
        self.writes: Counter[str] = Counter()

    def handle(self, request: Request) -> Response:
        if request.method != "PUT":
            return Response(405, {"error": "method"})
        with self.lock:
            self.documents[request.path] = request.json()
            self.writes[request.path] += 1
        return Response(200, {"id": "remote-" + request.path.rsplit("/", 1)[-1]})

    def orders(self) -> dict[str, Any]:
        """Order documents (``/orders/{shop}/{id}``), not their parts."""
        return {p: d for p, d in self.documents.items() if p.count("/") == 3}
