"""Bodies triage parsed, handed to the delivery that follows: each body parsed once, not twice.

Triage parses every new event's body to route it, and the delivery of its order parsed the
same bytes again a moment later to map it: two parses of a ~12 KB Shopify order were ~12% of a
delivering worker's Python (``bench/deliver.py``, py-spy). Triage keeps what it parsed here and
the delivery takes it, under three rules that keep the result exactly what a parse would give:

- **The bytes decide.** The delivery still reads the body from the store and gets the parsed
  document only when the kept bytes are equal to what it read; a body redacted, erased or
  replaced meanwhile is parsed anew (a parse is a function of the bytes alone).
- **Taken once.** The document leaves the cache when taken, so no two deliveries share a mutable
  object, and the cache holds nothing of an event once it is delivered.
- **Bounded.** At most :data:`MAX_BYTES` of raw bodies and :data:`MAX_ENTRIES` events, each for
  :data:`MAX_AGE_S`: when full, new bodies are not kept (the oldest routed are the first
  delivered, so they are the ones worth keeping), and what was never taken (an event superseded
  before its delivery, a worker that stopped) ages out.

Per worker process; a worker that did not triage an event (another process on PostgreSQL)
parses its body as before.
"""

from __future__ import annotations

import threading
import time
from typing import Any

MAX_ENTRIES = 512
MAX_BYTES = 8 * 1024 * 1024  # of raw bodies; their parsed documents take a few times that
MAX_AGE_S = 60.0
MISSING: Any = object()


class ParsedBodies:
    def __init__(self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES, max_age_s: float = MAX_AGE_S):
        self.max_entries, self.max_bytes, self.max_age_s = max_entries, max_bytes, max_age_s
        self._kept: dict[int, tuple[bytes, Any, float]] = {}  # event id → (raw, parsed, kept at); oldest first
        self._bytes = 0
        self._lock = threading.Lock()

    def keep(self, event_id: int, raw: bytes, parsed: Any) -> None:
        """Keep ``parsed`` (what ``raw`` parses to) for the delivery of ``event_id``, if there is room."""
        now = time.monotonic()
        with self._lock:
            self._expire(now)
            if len(self._kept) >= self.max_entries or self._bytes + len(raw) > self.max_bytes:
                return
            old = self._kept.pop(event_id, None)
            if old is not None:
                self._bytes -= len(old[0])
            self._kept[event_id] = (raw, parsed, now)
            self._bytes += len(raw)

    def take(self, event_id: int, raw: bytes) -> Any:
        """The document kept for ``event_id`` if it was parsed from exactly ``raw``, else
        :data:`MISSING`; either way nothing of the event stays kept."""
        with self._lock:
            entry = self._kept.pop(event_id, None)
            if entry is None:
                return MISSING
            self._bytes -= len(entry[0])
        kept_raw, parsed, _ = entry
        return parsed if kept_raw == raw else MISSING

    def __len__(self) -> int:
        return len(self._kept)

    def _expire(self, now: float) -> None:
        """Drop what was kept longer than ``max_age_s`` (the dict is in keeping order)."""
        while self._kept:
            event_id, (raw, _, kept_at) = next(iter(self._kept.items()))
            if now - kept_at <= self.max_age_s:
                return
            del self._kept[event_id]
            self._bytes -= len(raw)
