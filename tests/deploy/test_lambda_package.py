"""The functions' package: lambdas/ and its dependencies for CPython 3.13, no Django, < 60 MB."""

from __future__ import annotations

import re
import zipfile

from deploy.config import LAMBDA_MAX_UNZIPPED


def test_package_is_small_and_has_no_django(lambda_package):
    """Under our 60 MB budget unzipped, and neither Django nor the site nor the local stack."""
    assert lambda_package.unzipped_bytes < LAMBDA_MAX_UNZIPPED
    names = zipfile.ZipFile(lambda_package.zip_path).namelist()
    tops = {name.split("/")[0] for name in names}
    assert not {"django", "chat", "dynamowave_site", "yaml", "awslambdaric"} & tops
    assert "aiohttp" in tops  # fan-out's @connections client
    assert not any(name.startswith("lambdas/local/") for name in names)
    assert not any(name.endswith(".pyc") for name in names)


def test_every_handler_of_the_template_is_packaged(lambda_package, template):
    """Each function's Handler module is in the zip at the path Lambda imports it from."""
    names = set(zipfile.ZipFile(lambda_package.zip_path).namelist())
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            module = resource["Properties"]["Handler"].rpartition(".")[0]
            assert module.replace(".", "/") + ".py" in names


def test_compiled_extensions_target_python_313(lambda_package):
    """Every extension module is built for CPython 3.13 (or the stable ABI), x86_64 Linux."""
    extensions = [n for n in zipfile.ZipFile(lambda_package.zip_path).namelist() if ".so" in n]
    assert extensions  # cryptography and cffi at least
    for name in extensions:
        assert re.search(r"\.(cpython-313-x86_64-linux-gnu|abi3)\.so$", name) or ".libs/" in name


def test_the_zip_is_reproducible(lambda_package, tmp_path):
    """Zipping the same folder again gives the same bytes, so the S3 key (a hash) is stable."""
    from deploy.lambda_package import _zip_folder

    again = tmp_path / "again.zip"
    _zip_folder(lambda_package.folder, again)
    assert again.read_bytes() == lambda_package.zip_path.read_bytes()
