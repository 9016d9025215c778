"""Tenancy: which tracking account and options each shop's orders go out with.

* :mod:`.platforms` — pure: the fields of a Foxdeli and a parcelLab account, and their checks.
* :mod:`.options` — pure: the merchant's options (pause, which orders, order number, couriers).
* :mod:`.profile` — pure: the one resolution rule (operator entry, the merchant's own account,
  the global one where ``target.all_shops`` says so, else none) and the API root of a platform.
* :mod:`.stored` — reading and saving a shop's settings, secrets encrypted at rest.
"""
