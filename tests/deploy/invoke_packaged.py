"""Run inside an unzipped Zappa package: feed it events the way Lambda would, print the answers.

Reads a JSON list of events on stdin and writes the handler's return values, as a JSON list, to
the file named by the first argument (Django's commands print to stdout). The
working directory is the package (Lambda's /var/task); RUNTIME_PACKAGES names a folder with only
what the Lambda runtime adds (boto3, botocore, s3transfer), searched after the package.
"""

import json
import os
import sys

sys.path[0:1] = [os.getcwd()]
sys.path.append(os.environ["RUNTIME_PACKAGES"])

# The stage's database is the stack's Aurora cluster (its URL and secret in the package's Zappa
# environment, which the handler writes over the process's): unreachable here, so the test names
# the one the site runs against instead, as the stage's outputs would have.
if os.environ.get("PACKAGED_DATABASE_URL"):
    import zappa_settings  # the module the handler reads, imported once

    zappa_settings.ENVIRONMENT_VARIABLES["DATABASE_URL"] = os.environ["PACKAGED_DATABASE_URL"]
    zappa_settings.ENVIRONMENT_VARIABLES.pop("DATABASE_SECRET_ARN", None)

import handler  # noqa: E402 - Zappa's handler.py at the package root, as Lambda imports it


class Context:
    """The parts of a Lambda context Zappa's handler reads."""

    function_name = "dynamowave-site-dev"
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:dynamowave-site-dev"

    def get_remaining_time_in_millis(self):
        return 29_000


answers = [handler.lambda_handler(event, Context()) for event in json.load(sys.stdin)]
with open(sys.argv[1], "w") as output:
    json.dump(answers, output, default=str)
