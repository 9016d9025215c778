"""The app's life on a shop: install (OAuth, tokens), uninstall, scopes, privacy requests.

* :mod:`.install` — OAuth install and custom-app tokens, webhook subscriptions.
* :mod:`.tokens`, :mod:`.credentials` — the shop's Admin API token: stored encrypted, refreshed.
* :mod:`.handlers` — what the worker's triage does with lifecycle and privacy webhooks
  (:mod:`.uninstall`, :mod:`.scopes`, :mod:`.privacy`).
* :mod:`.redaction` — pure: find a customer's personal data in stored JSON and blank it.

Nothing is imported here, so the store can use the pure :mod:`.redaction` without loading the rest.
"""
