"""The worker's settings follow the config file: re-read when it changes, at most a poll late.

A replay after fixing the target's configuration must work without restarting the worker, so
the worker looks at the file's modification (time, size, inode: a rewrite in the same second or
an editor's rename both count) every ``worker.poll_interval_s`` and reloads it with the
process's environment. A new file that does not load keeps the settings in force, with the
reason logged once. A few settings belong to the running process and only take effect at the
next start (:data:`RESTART_KEYS`); a change to one says so.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from connector.config import Settings, config_file_path, load_settings
from connector.errors import ConfigError

log = logging.getLogger(__name__)
# Where the store is, how many threads deliver, where the metrics listen: fixed for a process.
RESTART_KEYS = (
    "database.path",
    "database.url",
    "database.busy_timeout_s",
    "database.pool_size",
    "worker.concurrency",
    "worker.metrics_port",
    "worker.metrics_host",
)
Stamp = tuple[int, int, int] | None


def _stamp(path: Path) -> Stamp:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


class SettingsWatcher:
    """Hands out new :class:`Settings` when the config file changed and still loads."""

    def __init__(
        self, current: Settings, path: str | None, env: Mapping[str, str] | None = None, interval_s: float = 1.0
    ) -> None:
        self.env = os.environ if env is None else env
        self.path, _ = config_file_path(path, self.env)
        self.current, self.interval_s = current, interval_s
        self._stamp = _stamp(self.path)
        self._next_look = time.monotonic() + interval_s

    def poll(self) -> Settings | None:
        """New settings when the file changed since the last look, else None."""
        if time.monotonic() < self._next_look:
            return None
        self._next_look = time.monotonic() + self.interval_s
        stamp = _stamp(self.path)
        if stamp == self._stamp:
            return None
        self._stamp = stamp
        try:
            loaded = load_settings(self.path if self.path.exists() else None, env=self.env)
        except ConfigError as exc:
            log.error(
                "configuration %s changed but does not load (%s): the worker keeps the settings it has", self.path, exc
            )
            return None
        fixed = [name for name in RESTART_KEYS if loaded[name] != self.current[name]]
        if fixed:
            log.warning("%s changed in %s: takes effect when the worker restarts", ", ".join(fixed), self.path)
        values = {**loaded.values, **{name: self.current[name] for name in RESTART_KEYS}}
        self.current = replace(loaded, values=values)
        self.interval_s = self.current["worker.poll_interval_s"]
        log.info("configuration re-read from %s", self.path)
        return self.current
