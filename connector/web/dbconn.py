"""The request's database connection (per thread, opened after gunicorn forks)."""

from __future__ import annotations

import sqlite_utils
from flask import current_app

from connector.store.db import get_db


def request_db() -> sqlite_utils.Database:
    settings = current_app.config["SETTINGS"]
    return get_db(settings["database.path"], settings["database.busy_timeout_s"])
