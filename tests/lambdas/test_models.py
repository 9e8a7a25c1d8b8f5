"""Every table shares one botocore client per environment, built at init."""

import subprocess
import sys

from lambdas.models import TABLES
from tests.helpers import ROOT

CHECK = """
from lambdas import models
clients = {id(m._get_connection().connection.client) for m in models.TABLES}
print(len(clients), len(models.TABLES))
"""


def test_one_client_serves_every_table():
    """A fresh interpreter (a cold environment) builds one client for all tables, once."""
    env = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    clients, tables = map(int, done.stdout.split())
    assert (clients, tables) == (1, len(TABLES))
