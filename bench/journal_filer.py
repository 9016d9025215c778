"""What the delivery worker does with the intake journal, alone: file it into the events table.

``bench/ingest.py`` runs one beside the servers on SQLite, as ``connector worker`` would run
beside ``connector serve``, and counts its CPU in the connector's server CPU: a webhook answered
from the journal is done only once it is filed. Polls every ``POLL_S`` while there is nothing to file.
"""

from __future__ import annotations

import signal
import sys
import time

from connector.store.db import connect_sqlite
from connector.store.journal import file_journals

POLL_S = 0.05


def main(location: str) -> None:
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    db = connect_sqlite(location)
    try:
        while not stop:
            try:
                if file_journals(db, location) == 0:
                    time.sleep(POLL_S)
            except Exception as exc:  # noqa: BLE001 - a locked store: file again on the next poll
                print(f"journal filer: {exc}", file=sys.stderr, flush=True)
                time.sleep(POLL_S)
        file_journals(db, location, wait=True)  # what the servers left when they stopped
    finally:
        db.close()


if __name__ == "__main__":
    main(sys.argv[1])
