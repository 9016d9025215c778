"""The request's database connection (per thread, opened after gunicorn forks).

On SQLite, web connections leave WAL checkpoints to a background thread
(``connector.store.checkpoints``): a webhook never waits for one, nor queues behind one.
"""

from __future__ import annotations

from flask import current_app

from connector.store.checkpoints import leave_checkpoints_to_a_thread
from connector.store.db import Db, db_for


def request_db() -> Db:
    db = db_for(current_app.config["SETTINGS"])
    leave_checkpoints_to_a_thread(db)
    return db
