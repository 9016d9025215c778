"""What the delivery worker does with the intake journal, alone: file it into the events table.

``bench/ingest.py`` runs one beside the servers on SQLite, as ``connector worker`` would run
beside ``connector serve``, and counts its CPU in the connector's server CPU: a webhook answered
from the journal is done only once it is filed. Files every ``FILE_EVERY_S``, and leaves WAL
checkpoints to a thread of its own (``connector.store.checkpoints``), as the worker does: with
SQLite's inline checkpoints instead, the commit that crosses 1,000 WAL pages copies and fsyncs them.
"""

from __future__ import annotations

import signal
import sys
import time

from connector.store.checkpoints import leave_checkpoints_to_a_thread, stop_checkpointers
from connector.store.db import connect_sqlite
from connector.store.journal import FILE_EVERY_S, file_journals


def main(location: str) -> None:
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    db = connect_sqlite(location)
    leave_checkpoints_to_a_thread(db)
    try:
        while not stop:
            started = time.monotonic()
            try:
                file_journals(db, location)
                time.sleep(max(0.0, FILE_EVERY_S - (time.monotonic() - started)))
            except Exception as exc:  # noqa: BLE001 - a locked store: file again on the next poll
                print(f"journal filer: {exc}", file=sys.stderr, flush=True)
                time.sleep(FILE_EVERY_S)
        file_journals(db, location, wait=True)  # what the servers left when they stopped
    finally:
        stop_checkpointers()
        db.close()


if __name__ == "__main__":
    main(sys.argv[1])
