"""Configuration is read from the environment, with clear errors for bad values."""

import pytest

from lambdas.config import ConfigError, load_config


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
