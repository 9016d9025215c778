"""Credentials never reach the store or a log line through a target's (or Shopify's) error text.

Unit rules of :func:`connector.scrub.scrub_secrets`, then the whole path: an ``http`` target
that echoes our request headers back in its error body, delivered by the real worker, read back
through the attempts, ``last_error``, the dead-letter list, ``/admin/orders`` and the worker's
JSON log; and Shopify's token endpoint quoting ``client_secret`` during an OAuth install.
"""

from __future__ import annotations

import io
import json
import logging
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest

from connector.logs import JsonFormatter
from connector.sandbox.http_target import HttpTargetStandIn
from connector.sandbox.server import Request, Response
from connector.scrub import MAX_ERROR_TEXT, scrub_secrets
from tests.support import ORDER_ID, SHOP, live_order

TOKEN = "tgt-" + secrets.token_hex(12)


@pytest.mark.parametrize("text, secret", [
    ('HTTP 401: {"headers":{"Authorization":"Bearer abcdef0123456789"}}', "abcdef0123456789"),
    ("bad header Authorization: Parcellab-API-Token c2VjcmV0LXRva2Vu", "c2VjcmV0LXRva2Vu"),
    ("Basic dXNlcjpwYXNzd29yZDEyMw== refused", "dXNlcjpwYXNzd29yZDEyMw=="),
    ('{"password": "hunter2-but-longer", "email": "x@example.com"}', "hunter2-but-longer"),
    ("form client_secret=shpss_abcdef0123456789&code=1", "shpss_abcdef0123456789"),
    ("access_token: shpat_0123456789abcdef0123456789", "shpat_0123456789abcdef0123456789"),
    ("X-Shopify-Access-Token: q1w2e3r4t5y6", "q1w2e3r4t5y6"),
    ("'api_key': 'k-12345678'", "k-12345678"),
    ("api-token=z9y8x7w6v5", "z9y8x7w6v5"),
    ("X-API-Key: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl", "eyJzdWIiOiJ4In0"),
    ("redirected to https://user:pa55w0rd@proxy.example/x", "pa55w0rd"),
    ("raw jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl at the end", "c2lnbmF0dXJl"),
])
def test_common_credential_patterns_are_hidden(text: str, secret: str) -> None:
    clean = scrub_secrets(text)
    assert secret not in clean and "***" in clean


def test_known_secrets_are_hidden_by_value_in_every_echoed_form() -> None:
    secret = "p@ss word/äö"
    for shown in (secret, "p%40ss%20word%2F%C3%A4%C3%B6", "p%40ss+word%2F%C3%A4%C3%B6", json.dumps(secret)[1:-1]):
        assert "ss" not in scrub_secrets(f"echo {shown} end", [secret]).replace("***", ""), shown


def test_ordinary_error_texts_keep_their_meaning() -> None:
    for text in ("HTTP 400: order_number is required", "token request refused: HTTP 400 (invalid_client)",
                 "HTTP 422: violations: recipient.email: must be a well-formed email address",
                 "connection failed (ConnectionError): PUT /orders/x"):
        assert scrub_secrets(text) == text


def test_text_is_one_bounded_line() -> None:
    clean = scrub_secrets("a\r\nb\x00c\tz" + "x" * 100_000)
    assert len(clean) <= MAX_ERROR_TEXT and "\n" not in clean and "\r" not in clean and "\x00" not in clean
    assert clean.startswith("a b c z")


def test_a_secret_cut_by_the_bound_is_not_half_shown() -> None:
    text = "x" * (MAX_ERROR_TEXT - 10) + " Bearer " + TOKEN
    assert TOKEN[:6] not in scrub_secrets(text)


# -- the whole path: an echoing http target -----------------------------------------------------
class EchoingTarget(HttpTargetStandIn):
    """Answers every PUT with an error whose body quotes the request headers back (some APIs and
    proxies do), first 503 (retried), then 400 (dead letter)."""

    def __init__(self) -> None:
        super().__init__()
        self.answers = [503, 503, 400]

    def handle(self, request: Request) -> Response:
        status = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        echo = {"error": "refused", "you_sent": dict(request.headers), "note": "x" * 3000}
        return Response(status, echo)


@pytest.fixture
def target() -> Iterator[HttpTargetStandIn]:
    with EchoingTarget() as standin:
        yield standin  # type: ignore[misc]


@pytest.fixture
def overrides(db_path: str, target: HttpTargetStandIn) -> dict[str, Any]:
    from tests.support import fast_settings

    # A durable retry delay (0.5-1 s) longer than one worker pass, so the test sees the order
    # retrying between passes: with the tiny default it was due again within the same
    # `run(once=True)`, which then reached the 400, on a loaded machine.
    return {**fast_settings(db_path, kind="http", base_url=target.url, token=TOKEN),
            "retry.first_delay_s": 0.25, "retry.max_delay_s": 2.0}


@pytest.fixture
def worker_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)


def test_echoed_bearer_token_is_never_stored_shown_or_logged(post, run_worker, client, db, target, worker_log):
    assert post(live_order()).status_code == 200
    seen_retrying = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # 503 (retried, rescheduled), then 400 (dead letter)
        run_worker()
        status, last_error = db.execute("SELECT status, last_error FROM orders").fetchone()
        if status == "retrying":
            seen_retrying.append(last_error)
        if status == "dead":
            break
        time.sleep(0.06)  # past the (tiny) durable backoff
    assert any(TOKEN in json.dumps(r.headers) for r in target.requests)  # it was sent, and echoed back
    retrying = ("retrying", seen_retrying[0] if seen_retrying else None)

    auth = {"Authorization": "Bearer admin-token"}
    stored = {
        "retrying last_error": retrying[1],
        "attempts": db.execute("SELECT group_concat(error, ' | ') FROM attempts").fetchone()[0],
        "orders": db.execute("SELECT status, last_error FROM orders").fetchone(),
        "failures": db.execute("SELECT group_concat(reason, ' | ') FROM failures").fetchone()[0],
        "/admin/orders": client.get("/admin/orders", headers=auth).get_data(as_text=True),
        "/admin/orders/<id>": client.get(f"/admin/orders/{SHOP}/{ORDER_ID}", headers=auth).get_data(as_text=True),
        "/admin/failures": client.get("/admin/failures", headers=auth).get_data(as_text=True),
        "worker log": worker_log.getvalue(),
    }
    assert seen_retrying and stored["orders"][0] == "dead"
    for where, text in stored.items():
        assert text and TOKEN not in str(text), where
    assert "HTTP 503" in stored["retrying last_error"] and "HTTP 400" in stored["failures"]
    for text in (retrying[1], stored["orders"][1], *stored["failures"].split(" | "), *stored["attempts"].split(" | ")):
        assert len(text) <= MAX_ERROR_TEXT + 80  # the reason plus the "gave up after …" prefix, never the body


# -- Shopify's token endpoint --------------------------------------------------------------------
@pytest.fixture
def shopify():
    from connector.sandbox.shopify import ShopifyStandIn
    from tests.support import API_KEY, SECRET

    with ShopifyStandIn(API_KEY, SECRET) as standin:
        yield standin


@pytest.fixture
def install_client(tmp_path, shopify):
    from connector.app import create_app
    from connector.store.db import close_thread_dbs
    from tests.support import make_settings

    settings = make_settings(tmp_path, admin_base=shopify.url, **{"shopify.expiring_offline_tokens": False})
    yield create_app(settings=settings).test_client(), settings
    close_thread_dbs()


def _callback(client, shopify):  # type: ignore[no-untyped-def]
    from tests.test_install import callback_query, start_install

    return client.get("/auth/callback?" + callback_query(shopify, start_install(client)))


def test_token_endpoint_error_text_is_never_shown_and_logged_scrubbed(install_client, shopify, worker_log):
    from tests.support import SECRET

    client, _ = install_client
    shopify.fail_next(status=400, body={
        "error": "invalid_request",
        "error_description": f"<script>x</script> we got client_secret={SECRET} code=abc",
        "echo": {"client_secret": SECRET},
    })
    page = _callback(client, shopify)
    text = page.get_data(as_text=True)
    assert page.status_code == 502 and "invalid_request" in text
    assert SECRET not in text and "we got" not in text and "script" not in text
    log = worker_log.getvalue()
    assert "token exchange failed" in log and "we got" in log  # the operator sees Shopify's words…
    assert SECRET not in log  # …without the secret


@pytest.mark.parametrize("answer", [
    {"access_token": None, "scope": "read_orders"},
    {"scope": "read_orders"},
    {"access_token": "", "scope": "read_orders"},
    {"access_token": "   ", "scope": "read_orders"},
    {"access_token": 12345, "scope": "read_orders"},
    {"access_token": ["shpat_x"], "scope": "read_orders"},
    {"access_token": "shpat_ok", "scope": None},
    {"access_token": "shpat_ok", "scope": "read_orders", "expires_in": "soon"},
    {"access_token": "shpat_ok", "scope": "read_orders", "refresh_token": 7},
    ["shpat_ok"],
])
def test_token_answer_without_a_usable_access_token_never_installs_the_shop(install_client, shopify, answer):
    from tests.support import SHOP as LIFECYCLE_SHOP
    from tests.support import rows

    client, settings = install_client
    shopify.fail_next(status=200, body=answer)
    page = _callback(client, shopify)
    assert page.status_code == 502, page.get_data(as_text=True)
    assert rows(settings, "SELECT shop FROM shops WHERE shop = ?", (LIFECYCLE_SHOP,)) == []
