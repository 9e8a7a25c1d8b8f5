"""The Lambda functions' code package: lambdas/ (no local gateway) and its dependencies for 3.13."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from deploy.config import (
    LAMBDA_DIR,
    LAMBDA_MAX_UNZIPPED,
    LAMBDA_ZIP,
    ROOT,
    platform_args,
    requirements,
)

# Fixed timestamp and permissions: the same inputs give the same zip, so its hash names the
# artifact in S3 and an unchanged package is neither uploaded nor deployed again.
_EPOCH = (1980, 1, 1, 0, 0, 0)
_SKIP_PARTS = {"__pycache__", "local"}


class PackageTooLarge(RuntimeError):
    """The unzipped package is over our budget."""


@dataclass(frozen=True)
class LambdaPackage:
    folder: Path
    zip_path: Path
    unzipped_bytes: int
    zipped_bytes: int
    sha256: str
    architecture: str


def lambda_architecture(template: dict | None = None) -> str:
    """The functions' architecture, as template.yaml's Globals give it: one zip serves every
    function, so none may name another."""
    from deploy.template import template_load

    template = template_load() if template is None else template
    found = {
        str((resource["Properties"].get("Architectures") or [None])[0])
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
        and "Architectures" in resource.get("Properties", {})
    }
    shared = template["Globals"]["Function"].get("Architectures", ["x86_64"])[0]
    if found - {shared}:
        raise ValueError(f"functions name architectures {sorted(found)}; the package is {shared}")
    return shared


def _copy_lambdas(target: Path) -> None:
    source = ROOT / "lambdas"
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if _SKIP_PARTS & set(relative.parts) or path.suffix == ".pyc" or path.is_dir():
            continue
        destination = target / "lambdas" / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)


def _zip_folder(folder: Path, zip_path: Path) -> None:
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(str(path.relative_to(folder)), date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def lambda_package_build(
    *,
    folder: Path = LAMBDA_DIR,
    zip_path: Path = LAMBDA_ZIP,
    quiet: bool = True,
    architecture: str | None = None,
) -> LambdaPackage:
    """Install the pinned dependencies as CPython 3.13 manylinux wheels of the functions'
    architecture (template.yaml's, unless given), add lambdas/, zip it."""
    architecture = architecture or lambda_architecture()
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            *(["--quiet"] if quiet else []),
            "--no-compile",  # .pyc for 3.11 would be useless on 3.13
            "--target",
            str(folder),
            *platform_args(architecture),
            *requirements(),
        ],
        check=True,
    )
    # Installer metadata of the build machine, not code: drop what pip writes for --target.
    for scripts in folder.glob("bin"):
        shutil.rmtree(scripts)
    _copy_lambdas(folder)
    unzipped = folder_size(folder)
    if unzipped > LAMBDA_MAX_UNZIPPED:
        raise PackageTooLarge(
            f"{folder} is {unzipped / 2**20:.1f} MiB unzipped, over "
            f"{LAMBDA_MAX_UNZIPPED / 2**20:.0f} MiB"
        )
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    _zip_folder(folder, zip_path)
    return LambdaPackage(
        folder=folder,
        zip_path=zip_path,
        unzipped_bytes=unzipped,
        zipped_bytes=zip_path.stat().st_size,
        sha256=hashlib.sha256(zip_path.read_bytes()).hexdigest(),
        architecture=architecture,
    )
