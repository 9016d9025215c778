"""What "silent" really does at each platform, said before a re-sync or import starts (pure).

A silent re-sync asks that the orders it brings message nobody (event source ``resync-silent``),
but only some platforms can be told so: parcelLab takes ``notifications_inactive`` per tracking
(https://docs.parcellab.com/docs/developers/v4/orders/trackings-orders); Foxdeli documents no
way at all (https://api.foxdeli.com/docs/api/tracking/create-order). The job's notes carry the
sentence for the shop's platform, so the operator or merchant reads it before anything is sent.
"""

from __future__ import annotations

SILENT_EFFECTS: dict[str, str] = {
    "parcellab": (
        "silent: parcelLab gets every tracking of these orders with notifications_inactive, so it sends "
        "no shipping notifications for them. parcelLab has no such switch for the order itself: an "
        "order-confirmation journey set up in parcelLab may still send its message."
    ),
    "foxdeli": (
        "silent cannot be honoured by Foxdeli: it has no way to mute notifications per order. Orders "
        "created at Foxdeli raise its CREATED event and their parcels are tracked as usual, so every "
        "e-mail your Foxdeli workflow sends for those goes out. To import history quietly, switch those "
        "e-mails off in Foxdeli until the import is done."
    ),
    "http": (
        "silent is not passed on by the http target: the receiving system gets the usual order "
        "documents and is not told to keep quiet."
    ),
    "dry-run": "silent: nothing is sent anywhere (dry run); the recorded payloads show what would be.",
}
NO_ACCOUNT = (
    "silent: this shop has no tracking account yet; its orders wait for one, and go out silent as "
    "far as that account's platform allows."
)


def silent_effect(kind: str | None) -> str:
    """The note for a silent job whose orders go to ``kind`` (None: no account connected)."""
    if kind is None:
        return NO_ACCOUNT
    return SILENT_EFFECTS.get(kind, f"silent: the {kind} target is asked not to notify customers.")
