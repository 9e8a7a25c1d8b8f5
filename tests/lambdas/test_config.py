"""Configuration is read from the environment, with clear errors for bad values."""

import os
import subprocess
import sys

import pytest

from lambdas.config import VARIABLES, ConfigError, configure, get_config, load_config
from tests.helpers import ROOT


def test_defaults_and_stage_prefix():
    """With no environment the stage is local and tables are prefixed by it."""
    config = load_config({})
    assert config.table_name("connections") == "dynamowave-local-connections"
    assert config.max_message_chars == 4000 and config.connection_ttl_seconds == 7200
    assert config.dynamodb_endpoint_url is None and config.token_public_keys == ()


def test_several_public_keys_are_split(keys):
    """TOKEN_PUBLIC_KEYS may hold several PEM blocks, for key rotation."""
    config = load_config({"TOKEN_PUBLIC_KEYS": keys.public_pem + "\n" + keys.public_pem})
    assert config.token_public_keys == (keys.public_pem, keys.public_pem)


@pytest.mark.parametrize("value", ["ten", "0", "-3"])
def test_bad_integers_are_refused(value):
    """A limit that is not a positive integer is a configuration error naming the variable."""
    with pytest.raises(ConfigError, match="MAX_MESSAGE_CHARS"):
        load_config({"MAX_MESSAGE_CHARS": value})


def test_unreadable_key_file_is_a_clear_error(tmp_path):
    """A key file that does not exist is reported by name."""
    with pytest.raises(ConfigError, match="TOKEN_PUBLIC_KEY_FILE"):
        load_config({"TOKEN_PUBLIC_KEY_FILE": str(tmp_path / "missing.pem")})


def test_fanout_concurrency_is_bounded():
    """FANOUT_CONCURRENCY defaults to 64 and must lie in 1..512 (each post holds a socket)."""
    assert load_config({}).fanout_concurrency == 64
    assert load_config({"FANOUT_CONCURRENCY": "512"}).fanout_concurrency == 512
    for value in ("0", "513", "many"):
        with pytest.raises(ConfigError, match="FANOUT_CONCURRENCY"):
            load_config({"FANOUT_CONCURRENCY": value})


class _Recording(dict):
    """An environment that notes every variable read from it."""

    def __init__(self, values: dict[str, str] | None = None) -> None:
        super().__init__(values or {})
        self.read: set[str] = set()

    def get(self, name, default=None):
        self.read.add(name)
        return super().get(name, default)

    def __getitem__(self, name):
        self.read.add(name)
        return super().__getitem__(name)


def test_variables_are_exactly_what_load_config_reads():
    """VARIABLES documents the whole surface: every variable load_config reads, and no other."""
    env = _Recording()
    load_config(env)
    assert env.read == set(VARIABLES)
    assert len(VARIABLES) == len(set(VARIABLES))


def test_configure_binds_the_config_and_what_is_built_from_it(dynamodb):
    """After configure() get_config() is the bound config, the models use its tables, and the
    clients built from the previous one are dropped; a later configure() takes it all back."""
    from lambdas import models
    from lambdas.management import management_api
    from lambdas.services import broadcast

    session = get_config()
    before = management_api("http://127.0.0.1:1/x")
    lambda_client = broadcast.lambda_client()
    other = load_config({**os.environ, "TABLE_PREFIX": "elsewhere-", "AWS_REGION": "eu-west-1"})
    try:
        assert configure(other) is other and get_config() is other
        assert models.Message.Meta.table_name == "elsewhere-messages"
        assert models.Message.Meta.region == "eu-west-1"
        assert management_api("http://127.0.0.1:1/x") is not before
        assert broadcast.lambda_client() is not lambda_client
        assert broadcast.lambda_client().meta.region_name == "eu-west-1"
        assert os.environ.get("TABLE_PREFIX") != "elsewhere-"  # the environment is untouched
    finally:
        configure(session)
    assert get_config() is session
    assert models.Message.Meta.table_name == session.table_name("messages")


def test_without_configure_the_environment_is_read_once():
    """A process that binds nothing (a Lambda environment) reads its environment at first use,
    and only then: a variable changed later changes nothing."""
    code = (
        "import os\n"
        "from lambdas.config import get_config\n"
        "first = get_config()\n"
        "os.environ['MAX_MESSAGE_CHARS'] = '99'\n"
        "assert get_config() is first, 'read again'\n"
        "print(first.max_message_chars)\n"
    )
    env = {**os.environ, "MAX_MESSAGE_CHARS": "1234"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1234"


def test_the_local_stack_hands_functions_the_configuration_it_does_not_set_itself():
    """devstack's list is derived from VARIABLES: none the emulator sets per function or the
    template declares, every other one, and Powertools' metrics switch."""
    from devstack import EMULATOR_SETS, FUNCTION_SETTINGS, TEMPLATE_SETS

    assert set(FUNCTION_SETTINGS) == (
        set(VARIABLES) - set(EMULATOR_SETS) - set(TEMPLATE_SETS) | {"POWERTOOLS_METRICS_DISABLED"}
    )
    assert {"DYNAMODB_ENDPOINT_URL", "TOKEN_PUBLIC_KEY_FILE", "RATE_MESSAGES_BURST"} <= set(
        FUNCTION_SETTINGS
    )
