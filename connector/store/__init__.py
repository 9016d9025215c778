"""The store: all SQL lives in this package, one module per noun. Functions take ``db`` first.

:mod:`.db` opens connections and holds the one transaction entry point,
:func:`~connector.store.db.write_transaction` (``BEGIN IMMEDIATE`` … ``COMMIT``);
:mod:`.migrations` holds the schema. No SQL text lives outside this package.

**The transaction rule.** Store functions never begin, commit or roll back a transaction; the
caller (web, worker, CLI, lifecycle, resync) wraps what must be atomic in one
``with write_transaction(db):``. Every store function is one of two kinds:

* **Inside** ``write_transaction`` — it reads before it writes, or its writes must commit
  together (``queue_order_snapshot``, ``claim_due_orders``, ``dead_letter``, ``replay_failure``,
  ``record_page``, ``erase_shop``…). Its docstring says
  "Inside ``write_transaction``", and every caller wraps it: outside a transaction it would run
  without its atomicity.
* **Self-contained** — each statement is complete on its own: one INSERT/UPDATE/DELETE whose
  effect does not depend on an earlier read (``save_event``, ``add_shop``, ``mark_uninstalled``,
  ``finish_job``, ``consume_oauth_state``'s ``DELETE … RETURNING``, ``sync_config_shops``'
  conditional upsert…), or a series of such statements (``prune_events``' batches). Called outside a transaction each statement commits by itself
  (autocommit); called inside one it simply joins it.

Reads need no transaction. The one function here that takes the write lock itself is
:func:`~connector.store.migrations.migrate`: a migration run must hold it from the check of what
is pending to the last step, and it does so through ``write_transaction`` too.
"""
