"""`zappa package` builds the site's zip, and its handler serves the site from the unzipped zip."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from deploy.config import ROOT, RUNTIME, ZAPPA_VENV
from deploy.site_package import SITE_SOURCES, zappa_stage
from tests.helpers import python_313

HERE = Path(__file__).parent
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")  # what the Lambda runtime adds


def _event(path: str, host: str | None = None) -> dict:
    event = json.loads((HERE / "events" / "apigateway-rest-proxy.json").read_text())
    if host is not None:
        event["headers"]["Host"] = host
        event["multiValueHeaders"]["Host"] = [host]
    event["path"] = path
    event["pathParameters"] = {"proxy": path.strip("/")}
    event["requestContext"]["path"] = f"/dev{path}"
    return event


@pytest.fixture(scope="module")
def unzipped(site_zip, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("site-package")
    zipfile.ZipFile(site_zip).extractall(folder)
    return folder


@pytest.fixture(scope="module")
def runtime_packages(tmp_path_factory) -> Path:
    """boto3 and botocore alone, standing in for the Lambda runtime's copies."""
    folder = tmp_path_factory.mktemp("runtime")
    site_packages = next((ZAPPA_VENV / "lib").glob("python3.*/site-packages"))
    for name in RUNTIME_PROVIDED:
        (folder / name).symlink_to(site_packages / name)
    return folder


@pytest.fixture
def python() -> str:
    """The interpreter the package is run with: Lambda's python3.13."""
    found = python_313()
    if found is None:
        pytest.skip("no CPython 3.13 here: install one (`pyenv install 3.13`) or set PYTHON313")
    return found


def invoke(
    unzipped: Path,
    runtime: Path,
    events: list[dict],
    tmp_path: Path,
    python: str = sys.executable,
    **variables: str,
) -> list:
    """Run the packaged handler in a fresh interpreter, in the package's folder, like Lambda."""
    answers = tmp_path / "answers.json"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "RUNTIME_PACKAGES": str(runtime),
        # Set directly, the secrets win over the SSM parameter names the stage carries.
        "DJANGO_SECRET_KEY": "packaged-handler-test-secret",
        "TOKEN_SIGNING_KEY": "not-used-by-these-pages",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'site.sqlite3'}",
        "PACKAGED_DATABASE_URL": f"sqlite:///{tmp_path / 'site.sqlite3'}",  # invoke_packaged.py
        **variables,
    }
    result = subprocess.run(
        [python, str(HERE / "invoke_packaged.py"), str(answers)],
        input=json.dumps(events),
        cwd=unzipped,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(answers.read_text())


def test_packaged_handler_serves_login_and_guards_admin(
    unzipped, runtime_packages, tmp_path, python
):
    """Given the unzipped package, when API Gateway events arrive (in 3.13, as on Lambda: its
    cp313 extension modules load), then the login page is served (with its hashed static
    files), /admin/ redirects to the admin login, and another API's host is refused."""
    another_api = _event("/accounts/login/", host="f6g7h8i9j0.execute-api.us-east-1.amazonaws.com")
    migrate, login, admin, elsewhere = invoke(
        unzipped,
        runtime_packages,
        [
            {"manage": "migrate --noinput"},
            _event("/accounts/login/"),
            _event("/admin/"),
            another_api,
        ],
        tmp_path,
        python,
    )
    assert elsewhere["statusCode"] == 400  # only the site's own host: DisallowedHost
    assert login["statusCode"] == 200
    assert 'name="password"' in login["body"]
    assert re.search(r"/static/[^\"']+\.[0-9a-f]{12}\.(css|js)", login["body"])  # manifest names
    assert admin["statusCode"] == 302
    location = admin["multiValueHeaders"]["Location"][0]
    assert re.fullmatch(r"(/dev)?/admin/login/\?next=(/dev)?/admin/", location)


def _post_json(path: str, body: dict) -> dict:
    event = _event(path)
    event["httpMethod"] = event["requestContext"]["httpMethod"] = "POST"
    event["body"] = json.dumps(body)
    event["headers"] = {**event["headers"], "Content-Type": "application/json"}
    event["multiValueHeaders"] = {
        **event["multiValueHeaders"],
        "Content-Type": ["application/json"],
    }
    return event


@pytest.fixture
def stage_tables(dynamodb, monkeypatch):
    """The dev stage's tables (its TABLE_PREFIX, which the package's settings set) in dynalite."""
    from devstack.dynamodb import ensure_tables
    from tests.helpers import bind_config

    prefix = zappa_stage("dev")["environment_variables"]["TABLE_PREFIX"]
    bind_config(TABLE_PREFIX=prefix)
    ensure_tables()
    yield prefix
    bind_config()


def test_packaged_site_signs_in_and_issues_a_token(
    unzipped, runtime_packages, tmp_path, python, stage_tables, keys
):
    """The pages a visitor starts with, and POST /api/token/ (Ed25519 signing: the package's
    cryptography build) with a user's credentials, DynamoDB's login limits included."""
    from cryptography.hazmat.primitives import serialization

    from tests.helpers import AUDIENCE, ISSUER, function_settings

    signing_key = keys.private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    credentials = {"username": "alice", "password": "correct horse battery staple"}
    root, room, admin_login, wrong, token = invoke(
        unzipped,
        runtime_packages,
        [
            {"manage": "migrate --noinput"},
            {"manage": "createsuperuser --noinput --username alice --email alice@example.com"},
            _event("/"),
            _event("/rooms/general/"),
            _event("/admin/login/"),
            _post_json("/api/token/", {**credentials, "password": "wrong"}),
            _post_json("/api/token/", credentials),
        ],
        tmp_path,
        python,
        TOKEN_SIGNING_KEY=signing_key,
        TOKEN_ISSUER=ISSUER,
        TOKEN_AUDIENCE=AUDIENCE,
        DJANGO_SUPERUSER_PASSWORD=credentials["password"],
        **{
            name: value
            for name, value in function_settings().items()
            if not name.startswith(("AWS_", "TOKEN_"))
        },
    )[2:]
    assert root["statusCode"] == 302  # to the default room, which wants a signed-in user
    assert room["statusCode"] == 302
    assert "/accounts/login/" in room["multiValueHeaders"]["Location"][0]
    assert admin_login["statusCode"] == 200
    assert wrong["statusCode"] == 401 and json.loads(wrong["body"])["error"]
    assert token["statusCode"] == 200, token["body"]
    issued = json.loads(token["body"])["token"]
    import jwt

    claims = jwt.decode(
        issued, keys.public_pem, algorithms=["EdDSA"], audience=AUDIENCE, issuer=ISSUER
    )
    assert claims["username"] == "alice"


def test_package_holds_no_secrets_and_nothing_dev_only(site_zip):
    """No dev keys, local data, tests, node_modules, local gateway, boto3 or deploy tooling."""
    names = zipfile.ZipFile(site_zip).namelist()
    tops = {name.split("/")[0] for name in names}
    assert not {".dev-keys", ".data", ".env", "tests", "node_modules", "bench", "deploy"} & tops
    assert not {*RUNTIME_PROVIDED, "troposphere", "setuptools", "pip"} & tops
    assert not any(name.startswith(("emulator/", "build/deploy/")) for name in names)
    assert {"handler.py", "zappa_settings.py", "manage.py", "lambdas", "chat"} <= tops
    assert any(name.startswith("build/static/") for name in names)


def test_of_this_repository_the_zip_holds_the_site_alone(site_zip):
    """Exactly the site's sources and its collected static files, whatever else the checkout
    holds (the emulator, the local stack, docs, caches such as .hypothesis, bench's results)."""
    names = zipfile.ZipFile(site_zip).namelist()
    ours = {path.name for path in ROOT.iterdir()}
    assert {name.split("/")[0] for name in names} & ours == {*SITE_SOURCES, "build"}
    assert {name.split("/")[1] for name in names if name.startswith("build/")} == {"static"}


def test_package_targets_the_python313_runtime(site_zip):
    """The stage runs python3.13, and its virtualenv was made by a CPython 3.13: every compiled
    module is a cp313 (or stable-ABI) build, none another interpreter's."""
    assert zappa_stage("dev")["runtime"] == zappa_stage("prod")["runtime"] == RUNTIME
    if python_313() is None:
        pytest.skip("no CPython 3.13 here: install one (`pyenv install 3.13`) or set PYTHON313")
    venv = (ZAPPA_VENV / "pyvenv.cfg").read_text()
    assert re.search(r"^version(_info)? = 3\.13\.", venv, re.MULTILINE), venv
    names = zipfile.ZipFile(site_zip).namelist()
    extensions = {n for n in names if n.endswith(".so") and "cpython-" in n}
    assert extensions and all("cpython-313-" in n for n in extensions), sorted(extensions)
    settings = zipfile.ZipFile(site_zip).read("zappa_settings.py").decode()
    assert "WEBSOCKET_HANDLER_MODULE" not in settings  # no Zappa WebSocket API for the site
    assert "DEBUG=False" in settings and "LOG_LEVEL='INFO'" in settings


def test_stages_extend_dev_and_read_secrets_from_ssm():
    """prod extends dev; both name SSM parameters for secrets and never hold a secret value
    (nor the database's URL: the deploy writes it from the stack's outputs)."""
    raw = json.loads((HERE.parents[1] / "zappa_settings.json").read_text())
    assert raw["prod"]["extends"] == "dev"
    for stage in ("dev", "prod"):
        config = zappa_stage(stage)
        environment = config["environment_variables"]
        assert config["manage_roles"] is False and config["keep_warm"] is True
        assert config["cloudwatch_data_trace"] is False
        for secret in ("DJANGO_SECRET_KEY", "TOKEN_SIGNING_KEY"):
            assert secret not in environment
            assert environment[f"{secret}_SSM_PARAMETER"].startswith(f"/dynamowave/{stage}/site/")
        # The database is the stack's: its URL and secret come from the outputs (deploy).
        assert "DATABASE_URL" not in environment
        assert "DATABASE_URL_SSM_PARAMETER" not in environment
        assert environment["TABLE_PREFIX"] == f"dynamowave-{stage}-"
        assert environment["DJANGO_SECURE"] == "true"
