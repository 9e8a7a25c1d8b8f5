"""Where deploy builds go, which Lambda platform they target, and the pins read from pyproject."""

from __future__ import annotations

import functools
import glob
import os
import re
import shutil
import subprocess
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
ZAPPA_SETTINGS = ROOT / "zappa_settings.json"
CHECKOV_CONFIG = ROOT / "deploy" / "checkov.yaml"
PARAMETERS_DIR = ROOT / "deploy" / "parameters"
BUILD = ROOT / "build" / "deploy"
LAMBDA_DIR = BUILD / "lambda"
LAMBDA_ZIP = BUILD / "lambda.zip"
TRANSLATED = BUILD / "template.json"
# Hidden on purpose: Zappa scans the project for `zappa.websocket` imports (and would add a
# WebSocket API) skipping only hidden and venv-named folders, and its own handler has one.
ZAPPA_VENV = BUILD / ".zappa-venv"
# Zappa's TMPDIR (its wheel cache is <TMPDIR>/cached_wheels): outside the project, which Zappa
# copies whole into a temporary folder.
ZAPPA_TMP = Path(tempfile.gettempdir()) / "dynamowave-zappa"
STATIC_ROOT = ROOT / "build" / "static"  # settings.STATIC_ROOT: collectstatic output, packaged
CHECKOV_VENV = ROOT / ".venv-checkov"

# Both packages target the python3.13 Lambda runtime (python3.11, the build Python, can no longer
# be chosen for new functions): the functions on the architecture template.yaml gives them, the
# site (Zappa) on x86_64. Wheels are fetched for that platform, never built here.
RUNTIME = "python3.13"
RUNTIME_VERSION = "3.13"
MACHINES = {"x86_64": "x86_64", "arm64": "aarch64"}  # Lambda's names, and the wheels'


def platform_args(architecture: str = "x86_64") -> tuple[str, ...]:
    """pip's options for CPython 3.13 manylinux wheels of a Lambda architecture."""
    return (
        "--platform",
        f"manylinux2014_{MACHINES[architecture]}",
        "--python-version",
        RUNTIME_VERSION,
        "--implementation",
        "cp",
        "--only-binary=:all:",
    )


PLATFORM_ARGS = platform_args("x86_64")  # the site's (zappa_settings.json "architecture")
# Our own budget (AWS allows 250 MB): cold starts. botocore is 30 MB of it; aiohttp's compiled
# parsers (7 MB, fan-out's @connections client) took the package past the earlier 50 MB, and
# Pillow (18 MB with its bundled libraries, the thumbnail function's; imported by no other
# function, so no other cold start loads it) past 60 MB.
LAMBDA_MAX_UNZIPPED = 80 * 1024 * 1024
# The Lambda runtime ships boto3/botocore; the site's package leaves them out (Zappa `exclude`).
SITE_FUNCTION = "dynamowave-site-{stage}"
# The Zappa stage that runs a release's migrations before the site takes the release: the same
# zip in a function of its own, with no API and no schedule (DEPLOY.md, "Release order"). Zappa
# names its function dynamowave-site-<stage>-migrate.
MIGRATE_STAGE = "{stage}_migrate"
SSM_PREFIX = "/dynamowave/{stage}"


def stack_name(stage: str) -> str:
    return f"dynamowave-{stage}"


def ssm_names(stage: str) -> dict[str, str]:
    """The SSM parameters of a stage: the authorizer's public keys and the site's secrets."""
    prefix = SSM_PREFIX.format(stage=stage)
    return {
        "public_keys": f"{prefix}/token-public-keys",
        "signing_key": f"{prefix}/site/token-signing-key",
        "secret_key": f"{prefix}/site/django-secret-key",
        # Not under site/: the site's role may read site/*, and has no use for it.
        "alarm_email": f"{prefix}/alarm-email",
    }


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def requirements(*extras: str, base: bool = True) -> list[str]:
    """Pinned requirement strings of the project's dependencies and the given extras.

    Self-references such as "dynamowave-chat[site]" are expanded, so a build virtualenv gets
    exactly the pins `make test` ran with, without installing the project itself.
    """
    project = _pyproject()["project"]
    optional = project.get("optional-dependencies", {})
    found: list[str] = list(project["dependencies"]) if base else []
    pending = list(extras)
    seen: set[str] = set()
    while pending:
        extra = pending.pop(0)
        if extra in seen:
            continue
        seen.add(extra)
        for requirement in optional[extra]:
            match = re.fullmatch(r"dynamowave-chat\[([^\]]+)\]", requirement)
            if match:
                pending.extend(name.strip() for name in match.group(1).split(","))
            else:
                found.append(requirement)
    return list(dict.fromkeys(found))


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


@functools.cache
def runtime_python() -> str | None:
    """A CPython of the runtime's version (3.13): $PYTHON313, python3.13 on PATH, or pyenv's."""
    candidates = [os.environ.get("PYTHON313"), shutil.which(f"python{RUNTIME_VERSION}")]
    try:
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip()
    except OSError:
        root = ""
    if root:
        found = glob.glob(f"{root}/versions/{RUNTIME_VERSION}.*/bin/python{RUNTIME_VERSION}")
        candidates += sorted(found, reverse=True)
    wanted = tuple(int(part) for part in RUNTIME_VERSION.split("."))
    for candidate in filter(None, candidates):
        done = subprocess.run(  # (pyenv's shim is on PATH too, and refuses)
            [candidate, "-c", f"import sys; print(sys.version_info[:2] == {wanted})"],
            capture_output=True,
            text=True,
        )
        if done.stdout.strip() == "True":
            return candidate
    return None
