"""The site's release through Zappa, in the order that keeps old code from meeting a new schema.

`zappa update` makes the new code serve at once, and `zappa manage` runs in the deployed function
(so, after an update, in the new code already serving; before it, in the old code, which has not
got the new migrations). So the release's zip goes first to a function of its own that takes no
traffic (Zappa stage `<stage>_migrate`: no API, no keep-warm, no schedule), which migrates the
database with the release's migrations and backfills; only then does the site's function get the
same zip. The old code serves during the migration: migrations must be backwards compatible
(expand, then contract a release later; DEPLOY.md, "Release order").
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

from deploy import aws, config
from deploy.config import BUILD, ROOT
from deploy.errors import SiteFailed

DIGEST_TAG = "dynamowave:site-digest"
# The versions of the site's SSM secrets, in its environment: a new version (a rotated signing
# key, another DATABASE_URL) changes the release, and the update starts fresh instances, which
# read the secrets again (they are read once, at cold start).
SECRETS_VARIABLE = "DYNAMOWAVE_SECRETS_VERSIONS"
# Zappa's build id and time: the only entry of its zip that differs between two builds of the
# same release (tests/deploy/test_deploy_e2e.py builds with stand-ins, DEPLOY.md says so).
VOLATILE = frozenset({"package_info.json"})


def zip_digest(path: Path) -> str:
    """The release's content: every entry's name and bytes, but not Zappa's build stamp."""
    digest = hashlib.sha256()
    with zipfile.ZipFile(path) as archive:
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            if info.filename in VOLATILE or info.is_dir():
                continue
            digest.update(info.filename.encode() + b"\0")
            digest.update(hashlib.sha256(archive.read(info)).digest())
    return digest.hexdigest()


def release_digest(site_zip: Path, settings: dict) -> str:
    """The release: the zip's content and the settings Zappa applies beside it (memory,
    timeout, role... are not in the zip)."""
    text = zip_digest(site_zip) + json.dumps(settings, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def settings_with_migrator(settings: dict, stage: str, *, secrets: str = "") -> dict:
    """Zappa settings with the stage's migration function beside it (and, given, the versions
    of the site's secrets in both stages' environment)."""
    site = settings[stage]
    if secrets:
        environment = {**site.get("environment_variables", {}), SECRETS_VARIABLE: secrets}
        site = {**site, "environment_variables": environment}
    migrator = {
        **site,
        "lambda_description": "DynamoWave Chat: runs the site's migrations with a release's code"
        " before the site takes it (no traffic)",
        "apigateway_enabled": False,
        "keep_warm": False,
        "events": [],
    }
    return {**settings, stage: site, config.MIGRATE_STAGE.format(stage=stage): migrator}


def run_command(command: list[str], *, cwd: Path, env: dict[str, str]) -> None:
    """Run one Zappa command (the tests record them here instead)."""
    subprocess.run(command, cwd=cwd, env=env, check=True)


def _zappa(settings_file: Path, *args: str) -> None:
    command = [str(config.ZAPPA_VENV / "bin" / "zappa"), *args, "-s", str(settings_file)]
    env = {**os.environ, "VIRTUAL_ENV": str(config.ZAPPA_VENV), "TMPDIR": str(config.ZAPPA_TMP)}
    try:
        run_command(command, cwd=ROOT, env=env)
    except subprocess.CalledProcessError as exc:
        raise SiteFailed(
            f"`zappa {' '.join(args[:2])}` failed (exit {exc.returncode}, its output is above):"
            " the site still serves its previous code; fix it and deploy again"
        ) from None


def site_release(
    *,
    cfn,
    lambda_client,
    stage: str,
    region: str,
    bucket: str,
    outputs: dict[str, str],
    secrets: str,
    say: Callable[..., None],
) -> str:
    """Package the site, migrate with it, then release it: "released", or "unchanged" when the
    site's function already runs this release (its DIGEST_TAG)."""
    from deploy import site_package

    site = config.SITE_FUNCTION.format(stage=stage)
    migrate_stage = config.MIGRATE_STAGE.format(stage=stage)
    settings_file = BUILD / "zappa_settings.json"

    def package(host: str | None) -> tuple[Path, str]:
        settings = site_package.zappa_settings_for(
            stage=stage, outputs=outputs, region=region, bucket=bucket, site_host=host
        )
        settings = settings_with_migrator(settings, stage, secrets=secrets)
        settings_file.write_text(json.dumps(settings, indent=4))
        site_zip = site_package.site_package_build(
            stage=stage, output=BUILD / f"site-{stage}.zip", settings_file=settings_file
        )
        return site_zip, release_digest(site_zip, settings)

    host = aws.site_host(cfn=cfn, name=site, region=region)
    site_zip, digest = package(host)
    current = aws.function_read(lambda_client=lambda_client, name=site)
    if current is not None and current.tags.get(DIGEST_TAG) == digest:
        say("site unchanged", f"{site} already runs this release ({digest[:16]})")
        return "unchanged"
    # The release's code migrates the database before any of it takes traffic.
    migrator = aws.function_read(lambda_client=lambda_client, name=f"{site}-migrate")
    zip_args = ("--zip", str(site_zip))
    _zappa(settings_file, "update" if migrator else "deploy", migrate_stage, *zip_args)
    for command in ("migrate", "rooms_backfill"):  # Django's tables; rooms older than the index
        _zappa(settings_file, "manage", migrate_stage, command)
        say(f"{command} (the release's code, in {site}-migrate)")
    _zappa(settings_file, "update" if current else "deploy", stage, *zip_args)
    if host is None:  # the first deploy made the site's API: only its host may reach Django
        host = aws.site_host(cfn=cfn, name=site, region=region)
        if host is None:
            raise SiteFailed(f"Zappa's stack {site} has no REST API (resource Api): see its events")
        say("site host", host)
        site_zip, digest = package(host)
        _zappa(settings_file, "update", stage, "--zip", str(site_zip))
    released = aws.function_read(lambda_client=lambda_client, name=site)
    if released is None:
        raise SiteFailed(f"`zappa deploy {stage}` made no function {site}")
    lambda_client.tag_resource(Resource=released.arn, Tags={DIGEST_TAG: digest})
    return "released"
