"""gunicorn settings for the web app (``gunicorn -c python:connector.gunicorn_conf``).

Used by the Procfile and by ``connector serve``. bind and workers come from the command line,
or from gunicorn's own ``$PORT`` and ``$WEB_CONCURRENCY`` on platforms that set them.
"""

accesslog = "-"
# Path only, never the query string: OAuth callbacks carry a one-time code and an hmac there.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
# Let an in-flight webhook finish its INSERT on shutdown; Shopify's own timeout is 5 s.
graceful_timeout = 10
