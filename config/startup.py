"""Start-up errors as a person should see them: a configuration problem is a short message and exit
status 1, not a 45-line traceback (manage.py, config/wsgi.py)."""

import sys

from django.core.exceptions import ImproperlyConfigured


def run_or_explain(start):
    try:
        return start()
    except ImproperlyConfigured as error:
        print(f"slackhub cannot start:\n{error}", file=sys.stderr)
        sys.exit(1)
