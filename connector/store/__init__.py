"""All SQL lives in this package, one module per noun. Functions take ``db`` first.

Every read-then-write runs inside :func:`connector.store.db.write_transaction` (BEGIN IMMEDIATE).
"""
