"""DynamoWave's local stack: dynalite with the tables, the emulator serving template.yaml, the site.

`make run` is `manage.py runstack` (devstack/management/commands/runstack.py); the tests and the
benchmarks start the same parts. Never packaged: neither the Lambda zip nor the site's has it, and
the site installs this app only where it can be imported (dynamowave_site/settings.py).
"""

# The libraries DynamoWave's own functions import, for their zygotes to preload (the emulator's
# `--preload`): `make run`, the tests and the benchmarks pass them.
PRELOAD = (
    "boto3",
    "pynamodb.models",
    "aiohttp",
    "aws_lambda_powertools.logging",
    "aws_lambda_powertools.metrics",
    "jwt",
    "cryptography.hazmat.primitives.asymmetric.ed25519",
    "botocore:dynamodb",  # its data files parsed once per zygote (emulator/zygote.py)
)
