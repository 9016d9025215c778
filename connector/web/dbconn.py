"""The request's database connection (per thread, opened after gunicorn forks)."""

from __future__ import annotations

from flask import current_app

from connector.store.db import Db, db_for


def request_db() -> Db:
    return db_for(current_app.config["SETTINGS"])
