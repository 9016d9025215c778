"""The browser's world in tests: the real app on loopback, and a stand-in for the Shopify admin.

The admin stand-in is a page at ``https://admin.shopify.com/store/<shop>/apps/<api key>``
(answered by Playwright's routing) that frames the app exactly as the admin does, with
``embedded=1&shop=…&host=…&id_token=…``. App Bridge's CDN script is answered with
``tests/standins/app_bridge.js``; every other ``cdn.shopify.com`` request (Polaris) answers
empty, so what the screenshots show is the app's own offline stylesheet. ID tokens are minted
here, with the test secret, whenever the App Bridge stand-in asks for one.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from werkzeug.serving import make_server

from tests.id_tokens import API_KEY, API_SECRET, mint_id_token
from tests.support import SHOP

APP_BRIDGE = (Path(__file__).parent.parent / "standins" / "app_bridge.js").read_text()


class LiveApp:
    """The real Flask app served by werkzeug on 127.0.0.1, in a thread."""

    def __init__(self, app: Any) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # its access lines would show id_token
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LiveApp:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.thread.join(5)


class AdminStandIn:
    """The Shopify admin around the app's iframe, and the issuer of its ID tokens."""

    def __init__(self, context: Any, app_url: str, shop: str = SHOP, api_key: str = API_KEY, secret: str = API_SECRET) -> None:
        self.context, self.app_url, self.shop, self.api_key, self.secret = context, app_url, shop, api_key, secret
        self.store = shop.removesuffix(".myshopify.com")
        self.host = base64.b64encode(f"admin.shopify.com/store/{self.store}".encode()).decode().rstrip("=")
        self.tokens_issued = 0
        self.stale_tokens_to_issue = 0  # the next N tokens are already expired (a laptop that slept)
        # Playwright tries the most recently added route first: the catch-all goes first.
        context.route("https://cdn.shopify.com/**", lambda route: route.fulfill(status=200, content_type="text/javascript", body=""))
        context.route("https://cdn.shopify.com/shopifycloud/app-bridge.js",
                      lambda route: route.fulfill(status=200, content_type="text/javascript", body=APP_BRIDGE))
        context.route("https://admin.shopify.com/__standin__/id-token*", self._issue_token)
        context.route(f"https://admin.shopify.com/store/{self.store}/apps/**", self._admin_page)

    def admin_url(self, path: str = "/app") -> str:
        return f"https://admin.shopify.com/store/{self.store}/apps/{self.api_key}?{urlencode({'path': path})}"

    def app_query(self, token: str | None = None) -> str:
        params = {"embedded": "1", "hmac": "standin", "host": self.host, "id_token": token or self.mint(),
                  "locale": "en", "session": "standin", "shop": self.shop, "timestamp": str(int(time.time()))}
        return urlencode(params)

    def mint(self, stale: bool = False) -> str:
        if stale:
            past = int(time.time()) - 3600
            return mint_id_token(self.shop, secret=self.secret, api_key=self.api_key, exp=past, nbf=past - 60, iat=past - 60)
        return mint_id_token(self.shop, secret=self.secret, api_key=self.api_key)

    def _issue_token(self, route: Any) -> None:
        stale = self.stale_tokens_to_issue > 0
        self.stale_tokens_to_issue -= int(stale)
        self.tokens_issued += 1
        body = json.dumps({"token": self.mint(stale), "shop": self.shop, "host": self.host})
        route.fulfill(status=200, content_type="application/json", body=body,
                      headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "no-store"})

    def _admin_page(self, route: Any) -> None:
        from urllib.parse import parse_qs, urlsplit

        path = parse_qs(urlsplit(route.request.url).query).get("path", ["/app"])[0]
        token = self.mint(stale=self.stale_tokens_to_issue > 0)
        self.stale_tokens_to_issue = max(0, self.stale_tokens_to_issue - 1)
        src = f"{self.app_url}{path}{'&' if '?' in path else '?'}{self.app_query(token)}"
        body = (
            "<!doctype html><html><head><meta charset='utf-8'><title>Shopify admin (stand-in)</title>"
            "<style>html,body{margin:0;height:100%;background:#f1f1f1}iframe{border:0;width:100%;height:100%;display:block}</style>"
            f"</head><body><iframe name='app-iframe' title='Tracking connector' src='{src}'></iframe></body></html>"
        )
        route.fulfill(status=200, content_type="text/html", body=body)


def open_app(page: Any, admin: AdminStandIn, path: str = "/app") -> Any:
    """Open the app in the admin stand-in; return its frame once the page has loaded its data."""
    page.goto(admin.admin_url(path))
    frame = app_frame(page, admin)
    frame.wait_for_selector("main:not([aria-busy])", state="attached")
    return frame


def app_frame(page: Any, admin: AdminStandIn, timeout_s: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for frame in page.frames:
            if frame.url.startswith(admin.app_url + "/app"):
                return frame
        page.wait_for_timeout(50)
    raise AssertionError(f"no app frame; frames: {[f.url for f in page.frames]}")


def iter_console_problems(messages: list[Any]) -> Iterator[str]:
    for message in messages:
        if message.type in ("error", "warning") and "favicon" not in message.text:
            yield message.text


SCREENSHOTS = Path(__file__).parent.parent.parent / "docs" / "screenshots"


def screenshot(page: Any, admin: AdminStandIn, name: str, out_dir: Path) -> Path:
    """The app's frame at its full height, as a PNG: in ``out_dir``, and with ``UPDATE_SCREENSHOTS=1``
    also in ``docs/screenshots/`` (the README shows those)."""
    import os

    frame = app_frame(page, admin)
    height = frame.evaluate("Math.ceil(document.documentElement.scrollHeight)")
    width = page.viewport_size["width"]
    page.set_viewport_size({"width": width, "height": max(height, 200)})
    page.wait_for_timeout(100)  # let the frame lay out at its new height
    path = out_dir / f"{name}.png"
    page.locator("iframe").screenshot(path=str(path), animations="disabled")
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / f"{name}.png").write_bytes(path.read_bytes())
    assert path.stat().st_size > 1000
    return path
