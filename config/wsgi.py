import os

from django.core.wsgi import get_wsgi_application

from config.startup import run_or_explain

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = run_or_explain(get_wsgi_application)
