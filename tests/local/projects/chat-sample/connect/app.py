"""$connect of the sample project: records who it is, as the send function does."""

import json
import os
from pathlib import Path


def handler(event, context):
    record = {"function": "connect", "table": os.environ.get("TABLE_NAME"), "file": __file__}
    Path(os.environ["RECORD_DIR"], "connect.json").write_text(json.dumps(record))
    return {"statusCode": 200}
