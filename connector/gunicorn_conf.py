"""gunicorn settings for the web app (``gunicorn -c python:connector.gunicorn_conf``).

Used by the Procfile and by ``connector serve``. bind and workers come from the command line,
or from gunicorn's own ``$PORT`` and ``$WEB_CONCURRENCY`` on platforms that set them.

Serving is built to face the internet without a proxy (issue 11: two slow clients used to stop
all intake): the worker class reads every connection with gevent, so a client that trickles its
request costs a socket, never a worker, and hands each request, once it has arrived whole, to a
few real threads that run the app (``connector/gunicorn_worker.py`` says why not gevent's
monkey-patching). Measured with 50 sockets trickling a byte a second: README, "Performance and
proof". A buffering proxy in front (``deploy/nginx.conf``) is extra protection, not needed.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from connector import multiproc_metrics

if TYPE_CHECKING:
    from gunicorn.arbiter import Arbiter
    from gunicorn.workers.base import Worker

worker_class = "connector.gunicorn_worker.ConnectorWorker"
# App threads per worker process. Requests reach them whole, so a thread is busy only while the
# app runs (~0.5 ms for a webhook); more threads than this only add GIL hand-offs.
threads = 4
# Open connections per worker process (slow or idle ones included); past it, new connections
# wait in the listen backlog. Each holds at most one request body (webhooks.max_body_bytes).
worker_connections = 200
# Seconds a client has to send its request line and headers, and to keep an idle connection
# open between requests. The whole request, body included, must arrive within
# gunicorn_worker.REQUEST_READ_TIMEOUT_S (10 s) or it is answered 408 and closed.
keepalive = 5
# Request line and headers: Shopify sends about 15 short headers; URLs carry at most an ID token.
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = 8190
# A worker that stops reporting in (an app thread stuck in C code cannot stall the loop, but a
# crashed hub can) is replaced after this many seconds.
timeout = 30

# gunicorn >= 25.1 opens a control socket by default ($XDG_RUNTIME_DIR/gunicorn.ctl, else
# ~/.gunicorn/gunicorn.ctl) through which its owner can change the worker count, reload or stop
# the server. The connector has no use for it; two instances of one user on a host would also
# share its path. Off (older gunicorns ignore the setting).
control_socket_disable = True

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


# Counters on /metrics summed over every worker (connector/multiproc_metrics.py says how).
def on_starting(server: Arbiter) -> None:
    multiproc_metrics.prepare()


def child_exit(server: Arbiter, worker: Worker) -> None:
    multiproc_metrics.worker_exited(worker.pid)


def on_exit(server: Arbiter) -> None:
    multiproc_metrics.server_exited()
