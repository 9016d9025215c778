"""Stand-ins for Shopify, Foxdeli and parcelLab: real HTTP servers on 127.0.0.1.

Strict where the vendors are (their documented fields, enums, auth and errors), and stricter
where the documentation is silent, so that a mapping bug shows as a refused request. The test
suite delivers to them; ``connector sandbox`` (:mod:`.stack`) starts them for a newcomer, with a
configuration that points the connector at them, so the real Foxdeli and parcelLab paths can be
watched without an account. Nothing in the connector itself imports this package.

* :mod:`.server` — the threaded server, request log, faults (queued or at random), observers.
* :mod:`.foxdeli` (+ :mod:`.foxdeli_schema`), :mod:`.parcellab` — the tracking platforms.
* :mod:`.shopify_admin` — Shopify's Admin GraphQL orders with its cost bucket (re-sync,
  reconciliation); :mod:`.shopify` — OAuth, token exchange and webhook subscriptions.
* :mod:`.http_target`, :mod:`.tracking_target` — receivers for the generic ``http`` target.
"""
