"""The deployed site's secrets from SSM Parameter Store: a variable names each one's parameter."""

from __future__ import annotations

from collections.abc import Mapping

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
