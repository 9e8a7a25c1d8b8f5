"""The functions' package: lambdas/ and its dependencies for CPython 3.13, no Django, < 60 MB."""

from __future__ import annotations

import re
import zipfile

from deploy.config import LAMBDA_MAX_UNZIPPED, ROOT

ELF_MACHINE_AARCH64 = 183  # e_machine (x86_64 is 62)


def test_package_is_small_and_has_no_django(lambda_package):
    """Under our 60 MB budget unzipped, and neither Django nor the site nor the local stack."""
    assert lambda_package.unzipped_bytes < LAMBDA_MAX_UNZIPPED
    names = zipfile.ZipFile(lambda_package.zip_path).namelist()
    tops = {name.split("/")[0] for name in names}
    assert not {"django", "chat", "dynamowave_site", "yaml", "awslambdaric"} & tops
    assert "aiohttp" in tops  # fan-out's @connections client
    assert not any(name.startswith("emulator/") for name in names)
    assert not any(name.endswith(".pyc") for name in names)


def test_of_this_repository_the_zip_holds_lambdas_alone(lambda_package):
    """The zip is lambdas/ and its dependencies: no other top-level entry of the checkout (the
    emulator, the local stack, the site, tests, caches) is in it, whatever appears there."""
    tops = {name.split("/")[0] for name in zipfile.ZipFile(lambda_package.zip_path).namelist()}
    ours = {path.name for path in ROOT.iterdir()}
    assert tops & ours == {"lambdas"}


def test_every_handler_of_the_template_is_packaged(lambda_package, template):
    """Each function's Handler module is in the zip at the path Lambda imports it from."""
    names = set(zipfile.ZipFile(lambda_package.zip_path).namelist())
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            module = resource["Properties"]["Handler"].rpartition(".")[0]
            assert module.replace(".", "/") + ".py" in names


def test_compiled_extensions_target_python_313_on_the_functions_architecture(lambda_package):
    """Every extension module is built for CPython 3.13 (or the stable ABI) and is an ELF file
    for the architecture template.yaml gives the functions (arm64: AArch64)."""
    assert lambda_package.architecture == "arm64"
    archive = zipfile.ZipFile(lambda_package.zip_path)
    extensions = [n for n in archive.namelist() if re.search(r"\.so(\.\d+)*$", n)]
    assert extensions  # cryptography, cffi and aiohttp's parsers at least
    for name in extensions:
        data = archive.read(name)[:20]
        assert data[:4] == b"\x7fELF", name
        assert int.from_bytes(data[18:20], "little") == ELF_MACHINE_AARCH64, name
        if ".libs/" not in name:  # vendored C libraries carry no Python tag
            assert re.search(r"\.(cpython-313-aarch64-linux-gnu|abi3)\.so$", name), name


def test_the_zip_is_reproducible(lambda_package, tmp_path):
    """Zipping the same folder again gives the same bytes, so the S3 key (a hash) is stable."""
    from deploy.lambda_package import _zip_folder

    again = tmp_path / "again.zip"
    _zip_folder(lambda_package.folder, again)
    assert again.read_bytes() == lambda_package.zip_path.read_bytes()
