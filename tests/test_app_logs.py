"""Access logs of the real gunicorn server never show an ID token or an hmac (they sit in the query)."""

from __future__ import annotations

import pytest
import requests

from tests.id_tokens import API_KEY, API_SECRET, mint_id_token
from tests.processes import connector_env, free_port, start_connector, stop, wait_http
from tests.support import SHOP

pytestmark = pytest.mark.slow


def test_access_logs_show_paths_never_id_tokens_or_hmacs(tmp_path):
    port = free_port()
    env = connector_env(shopify_api_secret=API_SECRET, shopify_api_key=API_KEY, database_path=tmp_path / "c.db")
    server = start_connector(["serve", "--bind", f"127.0.0.1:{port}"], env, tmp_path, tmp_path / "serve.log")
    token, stale = mint_id_token(SHOP), mint_id_token(SHOP, exp=1, nbf=1, iat=1)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/healthz")
        query = f"embedded=1&hmac=hmac-0123456789abcdef&shop={SHOP}&host=YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvZGVtby1zaG9w"
        page = requests.get(f"{base}/app?{query}&id_token={token}", allow_redirects=False)
        bounced = requests.get(f"{base}/app/orders?{query}&id_token={stale}", allow_redirects=False)
        bounce = requests.get(f"{base}{bounced.headers['Location']}")
        api = requests.get(f"{base}/app/api/session", headers={"Authorization": f"Bearer {token}"})
        assert (page.status_code, bounced.status_code, bounce.status_code, api.status_code) == (200, 302, 200, 200)
    finally:
        assert stop(server) == 0
    log = (tmp_path / "serve.log").read_text()
    assert '"GET /app" 200' in log and '"GET /app/orders" 302' in log and '"GET /auth/patch-id-token" 200' in log
    for secret in (token, stale, token.split(".")[1], "hmac-0123456789abcdef", "shopify-reload"):
        assert secret not in log
