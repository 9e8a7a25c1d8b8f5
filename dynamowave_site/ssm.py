"""The deployed site's secrets: from SSM Parameter Store (a variable names each one's parameter),
and the database's credentials from the Secrets Manager secret RDS keeps for it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import quote, urlsplit, urlunsplit

from django.core.exceptions import ImproperlyConfigured

SUFFIX = "_SSM_PARAMETER"
SECRETS = ("DJANGO_SECRET_KEY", "TOKEN_SIGNING_KEY", "DATABASE_URL")


def ssm_secrets_read(environ: Mapping[str, str]) -> dict[str, str]:
    """{NAME: value} for every secret NAME that is unset while NAME_SSM_PARAMETER is set.

    One GetParameters call at import (the function's cold start); the value set directly in the
    environment wins, so local development and tests never touch AWS.
    """
    wanted = {
        environ[name + SUFFIX]: name
        for name in SECRETS
        if not environ.get(name) and environ.get(name + SUFFIX)
    }
    if not wanted:
        return {}
    import boto3  # only deployed sites pay for the import

    response = boto3.client("ssm").get_parameters(Names=list(wanted), WithDecryption=True)
    if response.get("InvalidParameters"):
        missing = ", ".join(sorted(response["InvalidParameters"]))
        raise ImproperlyConfigured(f"SSM parameters not found: {missing} (see DEPLOY.md)")
    return {wanted[parameter["Name"]]: parameter["Value"] for parameter in response["Parameters"]}


def database_secret_read(environ: Mapping[str, str]) -> dict[str, str]:
    """{"DATABASE_URL": the URL with the credentials of DATABASE_SECRET_ARN's secret} when
    DATABASE_URL names none: the deployed site's database is the stack's Aurora cluster, whose
    credentials RDS keeps (and rotates) in Secrets Manager (template.yaml's DatabaseSecretArn).
    One GetSecretValue at cold start; a URL with a password, or not PostgreSQL's, or no secret,
    is left as it is."""
    arn, url = environ.get("DATABASE_SECRET_ARN"), environ.get("DATABASE_URL")
    if not arn or not url:
        return {}
    parts = urlsplit(url)
    if parts.password or not parts.scheme.startswith("postgres"):
        return {}  # credentials given, or a database that takes none (SQLite)
    username, password = database_credentials(arn)
    host = parts.hostname or ""
    netloc = f"{quote(username, safe='')}:{quote(password, safe='')}@{host}"
    netloc += f":{parts.port}" if parts.port else ""
    return {"DATABASE_URL": urlunsplit(parts._replace(netloc=netloc))}


def database_credentials(arn: str) -> tuple[str, str]:
    """The (username, password) of an RDS-managed secret (JSON with both)."""
    import boto3

    try:
        value = boto3.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
        secret = json.loads(value)
        return str(secret["username"]), str(secret["password"])
    except (KeyError, TypeError, ValueError) as error:
        raise ImproperlyConfigured(f"{arn} holds no username and password: {error}") from None
