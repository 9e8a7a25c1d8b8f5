"""Settings of the Channels baseline: the tutorial's, trimmed to what a WebSocket chat loads.

Constants, not django-environ (the project's habit): this is a copy of the tutorial, meant to
be compared with, and it never runs outside the benchmark.
"""

SECRET_KEY = "bench-only-not-secret"
DEBUG = False
# The load generator, like any non-browser client, sends no Origin header;
# AllowedHostsOriginValidator lets such a handshake through only with "*".
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.auth",  # AuthMiddlewareStack (the tutorial's asgi.py) needs these three
    "django.contrib.contenttypes",
    "django.contrib.sessions",
]
ROOT_URLCONF = "bench.baselines.channels_chat.urls"
ASGI_APPLICATION = "bench.baselines.channels_chat.asgi.application"

# Never queried (no client sends a session cookie), but auth and sessions need a database.
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
USE_TZ = True

CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
