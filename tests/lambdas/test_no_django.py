"""lambdas/ stays framework-free: importing every module of it loads no Django."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import pkgutil, importlib, sys
import lambdas
names = [m.name for m in pkgutil.walk_packages(lambdas.__path__, "lambdas.")]
for name in names:
    importlib.import_module(name)
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("django", "chat", "dynamowave_site"))
print(len(names), leaked)
sys.exit(1 if leaked or len(names) < 10 else 0)
"""


def test_lambdas_imports_no_django():
    """A fresh interpreter importing all of lambdas/ has no django, chat or site module loaded."""
    _runs_clean(SCRIPT)


SITE_LAYERS = """
import pkgutil, importlib, sys
import chat.selectors, chat.services
names = [
    m.name
    for package in (chat.services, chat.selectors)
    for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")
]
for name in names:
    importlib.import_module(name)
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("django", "dynamowave_site"))
print(len(names), leaked)
sys.exit(1 if leaked or len(names) < 8 else 0)
"""


def test_the_sites_services_and_selectors_import_without_django():
    """chat.services and chat.selectors load no Django: tests and bench call them (make_room,
    bench/*.py) with no settings configured."""
    _runs_clean(SITE_LAYERS)


def _runs_clean(script: str) -> None:
    """`script` succeeds in a fresh interpreter and names no leaked module."""
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("[]")
