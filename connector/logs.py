"""Structured logs: one JSON object per line, with shop/topic/order/event ids when known.

Secrets never reach a log line: nothing here prints settings, delivery reasons are built
without credentials, and every message and traceback passes :func:`connector.scrub.scrub_secrets`
(patterns plus the secrets :func:`setup_logging` was told about) before it is written.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

from connector.scrub import remember_secrets, scrub_secrets

CONTEXT_FIELDS = ("shop", "topic", "order_id", "event", "webhook_id", "worker", "job", "user")
# A log line is for a person: long enough for a traceback, never a whole hostile body.
MAX_MESSAGE = 4000
MAX_TRACEBACK = 16000


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": scrub_secrets(record.getMessage(), limit=MAX_MESSAGE),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            # Line breaks of the traceback stay (JSON escapes them); credentials do not.
            entry["exc"] = "\n".join(
                scrub_secrets(line, limit=MAX_MESSAGE) for line in self.formatException(record.exc_info).splitlines()
            )[:MAX_TRACEBACK]
        return json.dumps(entry, ensure_ascii=False, default=str)


class PlainFormatter(logging.Formatter):
    """Text lines for a terminal, scrubbed like the JSON ones."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub_secrets(super().format(record), limit=MAX_TRACEBACK)


class ConnectorHandler(logging.StreamHandler[TextIO]):
    """The connector's own handler: how setup_logging knows it already ran in this process."""


def setup_logging(level: str = "INFO", json_lines: bool = True, secrets: Iterable[str] = ()) -> None:
    """Configure the root logger once per process (idempotent); ``secrets`` are hidden in every line."""
    remember_secrets(secrets)
    root = logging.getLogger()
    if any(isinstance(h, ConnectorHandler) for h in root.handlers):
        return
    handler = ConnectorHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else PlainFormatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
