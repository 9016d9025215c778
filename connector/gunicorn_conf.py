"""gunicorn settings for the web app (``gunicorn -c python:connector.gunicorn_conf``).

Used by the Procfile and by ``connector serve``. bind and workers come from the command line,
or from gunicorn's own ``$PORT`` and ``$WEB_CONCURRENCY`` on platforms that set them.
"""

import os

accesslog = "-"
# Path only, never the query string: OAuth callbacks carry a one-time code and an hmac there, and
# the embedded app's pages an ID token (tests/test_app_logs.py).
# The second field is X-Forwarded-For: the real client behind a proxy (deploy/nginx.conf sets it), "-" without one.
access_log_format = '%(h)s %({x-forwarded-for}i)s %(t)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
# Let an in-flight webhook finish its INSERT on shutdown; Shopify's own timeout is 5 s.
graceful_timeout = 10
# Proxies whose X-Forwarded-Proto gunicorn believes (so the app sees https behind nginx): nginx on
# this host by default; a proxy on another host is named in $FORWARDED_ALLOW_IPS.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
