"""The site's Zappa zip: a virtualenv with only what the site runs, on Python 3.13, static files.

Zappa packages the whole virtualenv it runs in, so the site gets its own (build/deploy/.zappa-venv)
rather than .venv with pytest and Playwright, made by a CPython 3.13 (the function's python3.13;
deploy.config.runtime_python finds one): every package is installed for that interpreter, as
Lambda will import it. Zappa then swaps each compiled package for its manylinux cp313 wheel found
in <TMPDIR>/cached_wheels (Lambda's glibc, not this machine's); it would fetch those from
pypi.python.org, which is unreachable here, so pip puts them there first. Without a 3.13 the
virtualenv is made by this Python instead (a warning says so): only the swapped wheels are then
3.13's.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from deploy.config import (
    BUILD,
    PLATFORM_ARGS,
    ROOT,
    RUNTIME_VERSION,
    STATIC_ROOT,
    ZAPPA_SETTINGS,
    ZAPPA_TMP,
    ZAPPA_VENV,
    requirements,
    runtime_python,
    venv_python,
)

SITE_EXTRAS = ("site", "postgres", "zappa")

# What the site's zip holds of this repository, besides the collected static files: Zappa packages
# the folder it runs in, so it runs in one holding only these (site_sources_stage), never in the
# checkout, where anything new (a cache, a data folder, a dev-only package) would ride along.
SITE_SOURCES = ("manage.py", "dynamowave_site", "chat", "lambdas", "templates")
SITE_STAGING = BUILD / "site-sources"

# Placeholders that let Zappa's `package` run offline: it creates boto3 clients (never calls them).
OFFLINE_AWS_ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "offline-placeholder",
    "AWS_SECRET_ACCESS_KEY": "offline-placeholder",
}


def _quiet_pip(python: Path | str, *args: str) -> None:
    subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", "--quiet", *args], check=True
    )


def zappa_venv_ensure(*, venv: Path = ZAPPA_VENV) -> Path:
    """The site's build virtualenv, (re)made when the pinned requirements or its Python change."""
    python = runtime_python()
    if python is None:
        print(
            f"warning: no CPython {RUNTIME_VERSION} here, so the site's virtualenv is "
            f"{sys.version.split()[0]}'s (install one: `pyenv install {RUNTIME_VERSION}`, "
            f"or set PYTHON313)",
            file=sys.stderr,
        )
        python = sys.executable
    wanted = requirements(*SITE_EXTRAS)
    stamp = venv / ".requirements"
    digest = hashlib.sha256("\n".join([python, *wanted]).encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    _quiet_pip(venv_python(venv), "install", *wanted)
    stamp.write_text(digest)
    return venv


def _compiled_distributions(venv: Path) -> dict[str, str]:
    """{name: version} of the virtualenv's distributions that ship extension modules."""
    site_packages = next((venv / "lib").glob("python3.*/site-packages"))
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions(path=[str(site_packages)]):
        if any(str(f).endswith(".so") for f in dist.files or ()):
            found[dist.metadata["Name"]] = dist.version
    return found


def runtime_wheels_fetch(*, venv: Path = ZAPPA_VENV, tmp: Path = ZAPPA_TMP) -> list[str]:
    """Put the cp313 manylinux wheel of every compiled distribution where Zappa looks for it."""
    cache = tmp / "cached_wheels"
    cache.mkdir(parents=True, exist_ok=True)
    pins = [f"{name}=={version}" for name, version in sorted(_compiled_distributions(venv).items())]
    _quiet_pip(sys.executable, "download", "--no-deps", *PLATFORM_ARGS, "-d", str(cache), *pins)
    return pins


def collectstatic() -> Path:
    """Hashed, compressed static files in STATIC_ROOT, which WhiteNoise serves from the zip."""
    env = {
        **os.environ,
        "DJANGO_STATIC_MANIFEST": "true",
        "DJANGO_SECRET_KEY": "collectstatic-needs-no-real-secret",
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--clear", "--verbosity=0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    return STATIC_ROOT


def site_sources_stage(target: Path = SITE_STAGING) -> Path:
    """A folder with SITE_SOURCES and STATIC_ROOT (at the same path under it), for Zappa."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in SITE_SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=skip)
        else:
            shutil.copy2(source, target / name)
    shutil.copytree(STATIC_ROOT, target / STATIC_ROOT.relative_to(ROOT), ignore=skip)
    return target


def zappa_package(
    *,
    stage: str,
    output: Path,
    settings_file: Path = ZAPPA_SETTINGS,
    venv: Path = ZAPPA_VENV,
    tmp: Path = ZAPPA_TMP,
) -> Path:
    """`zappa package <stage>`: the zip Zappa would upload, built offline from SITE_SOURCES."""
    sources = site_sources_stage()
    output = output.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.unlink(missing_ok=True)
    env = {
        "PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '')}",
        "HOME": os.environ.get("HOME", str(tmp)),
        "VIRTUAL_ENV": str(venv),
        "TMPDIR": str(tmp),
        **OFFLINE_AWS_ENV,
    }
    result = subprocess.run(
        [str(venv / "bin" / "zappa"), "package", stage]
        + ["-s", str(settings_file), "-o", str(output)],
        cwd=sources,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0 or not output.exists():
        raise RuntimeError(f"zappa package {stage} failed:\n{result.stdout}\n{result.stderr}")
    return output


def site_package_build(*, stage: str, output: Path, settings_file: Path = ZAPPA_SETTINGS) -> Path:
    venv = zappa_venv_ensure()
    runtime_wheels_fetch(venv=venv)
    collectstatic()
    return zappa_package(stage=stage, output=output, settings_file=settings_file, venv=venv)


def zappa_stage(stage: str, settings_file: Path = ZAPPA_SETTINGS) -> dict:
    """A stage of zappa_settings.json with `extends` applied, as Zappa reads it."""
    stages = json.loads(settings_file.read_text())
    config = dict(stages[stage])
    while "extends" in config:
        parent = dict(stages[config.pop("extends")])
        config = {**parent, **config}
    return config


def zappa_settings_for(
    *,
    stage: str,
    outputs: dict[str, str],
    region: str,
    bucket: str,
    site_host: str | None,
    settings_file: Path = ZAPPA_SETTINGS,
) -> dict:
    """zappa_settings.json with `stage` flattened and wired to the stack's outputs.

    `site_host` is the site's own host (its REST API's, aws.site_host), the only one Django
    accepts and trusts for CSRF: None before the first deploy has made it, when the site
    accepts no host until the deploy writes it in (deploy/__main__.py). Written to
    build/deploy/ (never committed: it names the account's role and endpoints).
    """
    config = zappa_stage(stage, settings_file)
    environment = dict(config.get("environment_variables", {}))
    # Behind a custom domain (the stack's SiteUrl), CloudFront calls the same host (it does not
    # forward Host: API Gateway answers only to its own), so ALLOWED_HOSTS is unchanged; the
    # pages' Origin is the domain's; URLs start at / (Zappa would prefix the API's stage, as
    # the Host is an amazonaws.com one); the caller's address is CloudFront's viewer header
    # when CloudFront's edge header vouches for it (chat/edge.py).
    domain_url = outputs.get("SiteUrl", "")
    if domain_url:
        environment.update(DJANGO_FORCE_SCRIPT_NAME="/", DJANGO_BEHIND_CLOUDFRONT="true")
    environment.update(
        DJANGO_ALLOWED_HOSTS=site_host or "",
        DJANGO_CSRF_TRUSTED_ORIGINS=domain_url or (f"https://{site_host}" if site_host else ""),
        STAGE=stage,
        TABLE_PREFIX=outputs["TablePrefix"],
        WEBSOCKET_URL=outputs["WebSocketUrl"],
        MANAGEMENT_ENDPOINT_URL=outputs["ManagementEndpoint"],
        # Files in messages: the bucket the site presigns uploads and downloads for.
        UPLOADS_BUCKET=outputs.get("UploadsBucketName", ""),
        # The stack's Aurora cluster: the URL holds no credentials, the site reads them from
        # the secret RDS keeps (dynamowave_site/ssm.py), over TLS.
        DATABASE_URL=(
            f"postgres://{outputs['DatabaseHost']}:{outputs['DatabasePort']}"
            f"/{outputs['DatabaseName']}?sslmode=require"
        ),
        DATABASE_SECRET_ARN=outputs["DatabaseSecretArn"],
        # Staff deletes reach the search index as the authors' own do.
        INDEX_FUNCTION_NAME=outputs["IndexFunctionAlias"],
    )
    environment.pop("DATABASE_URL_SSM_PARAMETER", None)  # the hand-made parameter of old
    config.update(
        aws_region=region,
        s3_bucket=bucket,
        manage_roles=False,
        role_arn=outputs["SiteRoleArn"],
        environment_variables=environment,
        # In the stack's private subnets, to reach the database (DEPLOY.md, "The database").
        vpc_config={
            "SubnetIds": outputs["SiteSubnetIds"].split(","),
            "SecurityGroupIds": [outputs["SiteSecurityGroupId"]],
        },
    )
    return {stage: config}
