"""sendmessage of the sample project: the same module name as connect's, other code."""

import json
import os
from pathlib import Path


def handler(event, context):
    record = {"function": "send", "table": os.environ.get("TABLE_NAME"), "file": __file__}
    record["stage"] = event["requestContext"]["stage"]
    Path(os.environ["RECORD_DIR"], "send.json").write_text(json.dumps(record))
    return {"statusCode": 200}
