"""WSGI entry point of the site (gunicorn, mod_wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dynamowave_site.settings")

application = get_wsgi_application()
