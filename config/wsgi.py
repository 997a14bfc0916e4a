import os

from django.core.wsgi import get_wsgi_application

from config.startup import run_or_explain

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = run_or_explain(get_wsgi_application)


def _start():
    # Build the Slack app now: plugins load and run their init() at start-up, and a bad setting
    # (PLUGINS naming nothing) stops the process here with a short message.
    from bolt_app.app import get_app

    get_app()


run_or_explain(_start)
