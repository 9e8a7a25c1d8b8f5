"""The grants of the template's roles that no test exercised; `make test` runs it after the suite.

Every gateway of a test session appends the grants that allowed a call to one usage file
(tests/conftest.py sets EMULATOR_IAM_USAGE; emulator/iam.py writes it). A grant that no
test used is drift, to be removed, or needed where the local stack does not reach: then the
template says why in a comment above the statement, starting `# Not exercised locally:`. The
report lists both kinds, and fails while any unexercised grant has no reason.

    python -m emulator.iam_report [--template template.yaml] [--usage FILE]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from emulator.iam import Grant, PolicyError, grants, role_policies, template_digest
from emulator.template import DEFAULT_TEMPLATE, load_template, read_functions

ROOT = Path(__file__).resolve().parents[1]
USAGE = ROOT / "test-artifacts" / "iam-usage.jsonl"
REASON = "Not exercised locally:"


def exercised(usage: Path, digest: str) -> set[tuple[str, str, str, int]]:
    """The grants (Grant.key) of the template `digest` that allowed some call."""
    found = set()
    for line in usage.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut short by a killed gateway
        if record.get("template") == digest:
            found.add((record["function"], record["sid"], record["action"], record["place"]))
    return found


def reason(text: str, function: str, sid: str) -> str | None:
    """The `# Not exercised locally:` comment above the statement `sid` of `function`."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line == f"  {function}:"), None)
    if start is None:
        return None
    for i in range(start + 1, len(lines)):
        if re.match(r"  \S", lines[i]):  # the next resource: no such statement
            return None
        if re.match(rf"\s*- Sid: {re.escape(sid)}\s*$", lines[i]):
            comments = []
            j = i - 1
            while j > start and lines[j].lstrip().startswith("#"):
                comments.insert(0, lines[j].lstrip().lstrip("#").strip())
                j -= 1
            said = " ".join(comments)
            return said.split(REASON, 1)[1].strip() if REASON in said else None
    return None


def unexercised(template_path: Path, usage: Path) -> tuple[list[tuple[Grant, str | None]], int]:
    """Each grant no call used, with the reason the template gives for it (or None), and how
    many grants the roles have."""
    template = load_template(template_path)
    functions, _ = read_functions(template, template_dir=template_path.parent)
    policies = role_policies(
        template, list(functions), parameters={}, region="us-east-1", api_id="local"
    )
    used = exercised(usage, template_digest(template))
    text = template_path.read_text()
    every = [grant for function, docs in policies.items() for grant in grants(function, docs)]
    found = [
        (grant, reason(text, grant.function, grant.sid)) for grant in every if grant.key not in used
    ]
    return found, len(every)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    parser.add_argument("--usage", type=Path, default=USAGE)
    args = parser.parse_args(argv)
    if not args.usage.exists():
        print(f"{args.usage} does not exist: run the whole test suite first (make test)")
        return 2
    try:
        found, total = unexercised(args.template.resolve(), args.usage)
    except PolicyError as error:
        print(f"the template's roles cannot be read: {error}")
        return 2
    if not found:
        print(f"IAM: all {total} grants of the functions' roles were exercised by the tests")
        return 0
    unexplained = [grant for grant, why in found if why is None]
    print(f"IAM: {len(found)} of the {total} grants of the functions' roles no test exercised:")
    for grant, why in found:
        print(f"  {grant.function} {grant.sid}: {grant.action} on {grant.resource}")
        print(f"      {why or 'NO REASON: remove the grant, or say why above its statement'}")
    if unexplained:
        print(
            f"{len(unexplained)} without a reason: remove them from the template, or write "
            f"'# {REASON} <why>' above the statement"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
