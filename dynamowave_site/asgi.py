"""ASGI entry point of the site (uvicorn, daphne); the chat itself runs over API Gateway."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dynamowave_site.settings")

application = get_asgi_application()
