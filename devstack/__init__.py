"""DynamoWave's local stack: dynalite with the tables, the emulator serving template.yaml, the site.

`make run` is `manage.py runstack` (devstack/management/commands/runstack.py); the tests and the
benchmarks start the same parts. Never packaged: neither the Lambda zip nor the site's has it, and
the site installs this app only where it can be imported (dynamowave_site/settings.py).
"""

from lambdas.config import VARIABLES

# What the local stack hands DynamoWave's functions by name on top of the template's variables
# (`sam local --env-vars`, the emulator's `--env NAME`): every variable of their configuration but
# those the emulator sets for each function (its endpoints, the region) or the template declares
# (the functions they invoke, the stack's SSM parameter, the metrics namespace), and
# Powertools' switch for printing metrics, which tests turn off.
EMULATOR_SETS = (
    "MANAGEMENT_ENDPOINT_URL",
    "LAMBDA_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
)
TEMPLATE_SETS = (
    "FANOUT_FUNCTION_NAME",
    "INDEX_FUNCTION_NAME",
    "TOKEN_PUBLIC_KEYS_PARAMETER",
    "POWERTOOLS_METRICS_NAMESPACE",
    "UPLOADS_BUCKET",
)
FUNCTION_SETTINGS = (
    *(name for name in VARIABLES if name not in EMULATOR_SETS + TEMPLATE_SETS),
    "POWERTOOLS_METRICS_DISABLED",
)

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
