"""gunicorn settings for production: `gunicorn -c config/gunicorn.py config.wsgi`.

gthread workers: Bolt acks an event at once and runs the listener on a thread pool, so a worker's
threads spend their time waiting on Slack and the database, not the CPU.
"""

import multiprocessing
import os

bind = f"0.0.0.0:{os.getenv('PORT', '8000')}"
worker_class = "gthread"
# Workers share installations through the cache; without REDIS_URL (or CACHE_DIR) the cache is per
# process, so one worker is the only coherent choice.
shared_cache = os.getenv("REDIS_URL") or os.getenv("CACHE_DIR")
workers = int(os.getenv("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 if shared_cache else 1))
threads = int(os.getenv("GUNICORN_THREADS", "8"))
timeout = int(os.getenv("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
accesslog = "-"
errorlog = "-"
# Slack retries what it did not get an answer for in 3 s; a slow request is worth seeing.
# The path without its query string: /slack/oauth_redirect carries the OAuth code and state there.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
forwarded_allow_ips = os.getenv("FORWARDED_ALLOW_IPS", "127.0.0.1")
