"""Fixtures of the deploy tests: the template as data and the two packages, built once."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def template() -> dict:
    from deploy.template import template_load

    return template_load()


@pytest.fixture
def stage_of(template: dict):
    """A shipped stage (deploy/parameters/<name>.json), with some parameters changed."""
    from dataclasses import replace

    from deploy.stage import stage_load

    def stage_of(name: str = "prod", **values: str):
        stage = stage_load(name, template=template)
        return replace(stage, parameters={**stage.parameters, **values})

    return stage_of


@pytest.fixture(scope="session")
def translated(template: dict) -> dict:
    from deploy.template import template_translate, template_with_code

    return template_translate(template_with_code(template, "s3://test-artifacts/lambda.zip"))


@pytest.fixture(scope="session")
def lambda_package():
    """The package as deployed: for the architecture template.yaml gives the functions."""
    from deploy.lambda_package import lambda_package_build

    return lambda_package_build()


@pytest.fixture(scope="session")
def lambda_package_here(lambda_package):
    """The same package built for this machine, to run here (its compiled modules are this
    machine's): the deployed one itself when the architectures agree."""
    import platform

    from deploy.config import BUILD
    from deploy.lambda_package import lambda_package_build

    here = {"x86_64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine()]
    if here == lambda_package.architecture:
        return lambda_package
    return lambda_package_build(
        architecture=here, folder=BUILD / f"lambda-{here}", zip_path=BUILD / f"lambda-{here}.zip"
    )


# The host of the captured API Gateway events (tests/deploy/events/): the site's own.
SITE_HOST = "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"


@pytest.fixture(scope="session")
def site_zip():
    """The site's zip as the deploy builds it: its stage wired to a stack's outputs (the dry
    run's) and to the site's exact host."""
    import json

    from deploy.__main__ import DRY_RUN_OUTPUTS
    from deploy.config import BUILD
    from deploy.site_package import site_package_build, zappa_settings_for

    outputs = {k: v.format(region="us-east-1", stage="dev") for k, v in DRY_RUN_OUTPUTS.items()}
    settings = zappa_settings_for(
        stage="dev", outputs=outputs, region="us-east-1", bucket="tests", site_host=SITE_HOST
    )
    settings_file = BUILD / "zappa_settings-tests.json"
    settings_file.parent.mkdir(parents=True, exist_ok=True)
    settings_file.write_text(json.dumps(settings, indent=4))
    return site_package_build(
        stage="dev", output=BUILD / "site-dev.zip", settings_file=settings_file
    )
