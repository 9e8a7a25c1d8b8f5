"""Fixtures of the deploy tests: the template as data and the two packages, built once."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def template() -> dict:
    from deploy.template import template_load

    return template_load()


@pytest.fixture(scope="session")
def translated(template: dict) -> dict:
    from deploy.template import template_translate, template_with_code

    return template_translate(template_with_code(template, "s3://test-artifacts/lambda.zip"))


@pytest.fixture(scope="session")
def lambda_package():
    from deploy.lambda_package import lambda_package_build

    return lambda_package_build()


@pytest.fixture(scope="session")
def site_zip():
    from deploy.config import BUILD
    from deploy.site_package import site_package_build

    return site_package_build(stage="dev", output=BUILD / "site-dev.zip")
