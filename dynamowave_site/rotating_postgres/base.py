"""PostgreSQL whose credentials RDS rotates in Secrets Manager (every 7 days by default): a
connection the server refuses is tried once more with the secret's current credentials, so a warm
site instance survives a rotation instead of failing every request until its next cold start.

The settings use it when DATABASE_SECRET_ARN names the secret (dynamowave_site/settings.py).
"""

from __future__ import annotations

from django.conf import settings
from django.db.backends.postgresql import base

from dynamowave_site.ssm import database_credentials


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict):
        try:
            return super().get_new_connection(conn_params)
        except base.Database.OperationalError:
            arn = getattr(settings, "DATABASE_SECRET_ARN", "")
            if not arn:
                raise
            user, password = database_credentials(arn)
            if (user, password) == (conn_params.get("user"), conn_params.get("password")):
                raise  # not a rotation: the same credentials would be refused again
            # Kept for this instance's later connections (get_connection_params reads them).
            self.settings_dict["USER"], self.settings_dict["PASSWORD"] = user, password
            return super().get_new_connection({**conn_params, "user": user, "password": password})
