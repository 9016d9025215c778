"""The worker: triage stored events, then claim → map → send → record, per order. No Flask."""
