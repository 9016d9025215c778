"""The strict parcelLab stand-in with a chaos control channel, run as its own process.

Bench-only: the validation logic of :class:`connector.sandbox.parcellab.ParcellabStandIn` is used
unchanged; this subclass only adds

- ``POST /_chaos {"mode": "500" | "429" | "timeout" | "refuse" | "ok", "seconds": S}``: for S
  seconds every ``PUT /v4/track/orders/`` answers 500, or 429 with ``Retry-After``, or hangs past
  the client's timeout and is dropped *without being applied*, or the listening socket is closed
  so connections are refused (it is reopened on the same port by a timer in this process);
- ``GET /_state``: everything it holds (orders, trackings, per-order version history, counts of
  rejected requests and of chaos answers), as JSON;
- a history of the version each order write carried (the ``v:N`` tag the chaos driver puts in
  every order), so a write that moves an order *backwards* is noticed even if a later write
  repairs it.

    python bench/chaos_standin.py --port 0 --token T --hang 3   # prints its URL, serves until SIGTERM
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections import Counter
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connector.sandbox.parcellab import ParcellabStandIn
from connector.sandbox.server import Request, Response

MODES = ("ok", "500", "429", "timeout", "refuse")


def order_version(order: dict[str, Any] | None) -> int | None:
    """The driver's version number from a ``v:N`` tag, or None."""
    for tag in (order or {}).get("tags") or []:
        if isinstance(tag, str) and tag.startswith("v:") and tag[2:].isdigit():
            return int(tag[2:])
    return None


class ChaosParcellabStandIn(ParcellabStandIn):
    def __init__(self, hang_s: float = 3.0, retry_after_s: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hang_s = hang_s
        self.retry_after_s = retry_after_s
        self.mode = "ok"
        self.mode_until = 0.0
        self.chaos_answers: Counter[str] = Counter()
        self.history: dict[str, list[int | None]] = {}  # "account|order_number" -> versions written
        self.regressions: list[dict[str, Any]] = []
        self.puts = 0
        self._port: int | None = None

    # -- control channel ------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        if request.path == "/_chaos" and request.method == "POST":
            return self._set_mode(request.json() or {})
        if request.path == "/_state" and request.method == "GET":
            return Response(200, self.state())
        mode = self._current_mode()
        if mode == "500":
            self.chaos_answers["500"] += 1
            return Response(500, {"detail": "chaos: internal server error"})
        if mode == "429":
            self.chaos_answers["429"] += 1
            return Response(429, {"detail": "chaos: throttled"}, {"Retry-After": str(self.retry_after_s)})
        if mode == "timeout":
            self.chaos_answers["timeout"] += 1
            time.sleep(self.hang_s)  # past the client's timeout; then the request is dropped unapplied
            raise ConnectionAbortedError("chaos: timed out")
        before = None
        if request.method == "PUT":
            body = _safe_json(request)
            if isinstance(body, dict):
                key = f"{body.get('account')}|{body.get('order_number')}"
                with self.lock:
                    before = (key, self.orders.get((body.get("account"), body.get("order_number"))))
        response = super().handle(request)
        if before is not None and response.status < 300:
            self._note_write(*before)
        return response

    def _note_write(self, key: str, _before: Any) -> None:
        account, _, number = key.partition("|")
        with self.lock:
            self.puts += 1
            order = self.orders.get((int(account) if account.isdigit() else account, number))
            version = order_version(order)
            history = self.history.setdefault(key, [])
            known = [v for v in history if v is not None]
            if version is not None and known and version < max(known):
                self.regressions.append({"order": key, "wrote": version, "after": max(known)})
            history.append(version)

    def _current_mode(self) -> str:
        with self.lock:
            if self.mode != "ok" and time.monotonic() >= self.mode_until:
                self.mode = "ok"
            return self.mode

    def _set_mode(self, command: dict[str, Any]) -> Response:
        mode, seconds = str(command.get("mode", "ok")), float(command.get("seconds", 1.0))
        if mode not in MODES:
            return Response(400, {"error": f"mode must be one of {MODES}"})
        if mode == "refuse":
            self.chaos_answers["refuse"] += 1
            # Answer first, then close the listener from another thread (shutdown() waits for
            # the serve loop, which must not be this request's thread).
            threading.Thread(target=self._refuse_for, args=(seconds,), daemon=True).start()
            return Response(200, {"mode": mode, "seconds": seconds})
        with self.lock:
            self.mode, self.mode_until = mode, time.monotonic() + seconds
        return Response(200, {"mode": mode, "seconds": seconds})

    def _refuse_for(self, seconds: float) -> None:
        time.sleep(0.05)
        server = self._server
        assert server is not None
        handler = server.RequestHandlerClass
        server.shutdown()
        server.server_close()  # connections are refused from here on
        time.sleep(seconds)
        self._listen(handler)

    def _listen(self, handler: Any) -> None:
        assert self._port is not None
        deadline = time.monotonic() + 10
        while True:
            try:
                server = ThreadingHTTPServer(("127.0.0.1", self._port), handler)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def start_on(self, port: int) -> ChaosParcellabStandIn:
        self.start()
        if port:
            assert self._server is not None
            handler = self._server.RequestHandlerClass
            self._server.shutdown()
            self._server.server_close()
            self._port = port
            self._listen(handler)
        else:
            self._port = self._server.server_address[1]  # type: ignore[union-attr]
        return self

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "orders": {f"{a}|{n}": o for (a, n), o in self.orders.items()},
                "trackings": [{"courier": c, "tracking_number": t, "order": list(v["order"])}
                              for (c, t), v in self.trackings.items()],
                "history": self.history,
                "regressions": self.regressions,
                "invalid_requests": [{"path": r.path, "errors": e} for r, e in self.invalid_requests],
                "chaos_answers": dict(self.chaos_answers),
                "requests": len(self.requests),
                "puts_applied": self.puts,
            }


def _safe_json(request: Request) -> Any:
    try:
        return request.json()
    except ValueError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default="chaos-token")
    parser.add_argument("--hang", type=float, default=3.0, help="seconds a 'timeout' request hangs")
    parser.add_argument("--retry-after", type=int, default=1)
    args = parser.parse_args()
    standin = ChaosParcellabStandIn(hang_s=args.hang, retry_after_s=args.retry_after, token=args.token)
    standin.start_on(args.port)
    print(f"http://127.0.0.1:{standin._port}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()


if __name__ == "__main__":
    main()
