"""IAM in the local stack: each function's role as its template declares it, enforced.

Every execution environment of a function holds credentials of that function's own (as a
Lambda role's session would be); a call signed with them to DynamoDB (through the gateway's
proxy, dynamodb_proxy.py), `@connections` or the Lambda Invoke API is authorized against the
function's role, as translated from the template by samtranslator (SAM policy templates
expanded) with its intrinsics resolved against the local account, region, API id, stage and
table names. What the role does not allow fails as AWS fails it. Calls signed with any other key
(a developer's, the tests', the site's) are not restricted, as an administrator's are not.
Statements are evaluated by moto's IAM policy engine; each grant that allows a call can be
recorded, for the report of grants no test exercised (iam_report.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from emulator.intrinsics import ACCOUNT_ID, Stack, Unresolvable
from emulator.template import TemplateError, translate

if TYPE_CHECKING:
    from emulator.template import Function

logger = logging.getLogger("emulator.iam")

SECRET = "local-role-secret"
_CREDENTIAL = re.compile(r"Credential=([A-Z0-9]+)/")


class PolicyError(ValueError):
    """A role the local stack cannot evaluate: it refuses to start rather than allow blindly."""


def function_arn(function: Function, region: str, qualifier: str | None = None) -> str:
    """The function's ARN in the local account (with a version or alias, if given)."""
    name = function.name or function.logical_id
    arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def access_key(logical_id: str) -> str:
    """The access key id a function's environments sign with (ASIA…: a role session's)."""
    return "ASIA" + hashlib.sha256(logical_id.encode()).hexdigest()[:16].upper()


def role_credentials(logical_id: str) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": access_key(logical_id),
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_SESSION_TOKEN": f"local-session-{logical_id}",
    }


def template_digest(template: dict) -> str:
    """Which template a usage line is about (tests run gateways of other templates too)."""
    text = json.dumps(template, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def role_policies(
    template: dict,
    functions: list[str],
    *,
    parameters: dict[str, str],
    region: str,
    api_id: str,
) -> dict[str, list[dict]]:
    """Each function's inline policy documents, intrinsics resolved (managed policies: none
    of the local services answers to their grants, logs and X-Ray)."""
    try:  # the roles SAM makes of each function's Policies, as CloudFormation gets them
        translated = translate(template, parameters=parameters, region=region)
    except TemplateError as error:
        raise PolicyError(str(error)) from None
    stack = Stack(
        translated, parameters=parameters, region=region, account=ACCOUNT_ID, api_id=api_id
    )
    resources = translated.get("Resources", {})
    policies: dict[str, list[dict]] = {}
    for logical_id in functions:
        role = (resources.get(logical_id, {}).get("Properties", {}) or {}).get("Role")
        role_id = role.get("Fn::GetAtt", [None])[0] if isinstance(role, dict) else None
        documents = []
        if role_id in resources:
            for policy in resources[role_id].get("Properties", {}).get("Policies", []) or []:
                try:
                    documents.append(stack.resolve(policy["PolicyDocument"]))
                except (Unresolvable, KeyError, TypeError) as error:
                    raise PolicyError(f"{role_id} ({logical_id}'s role): {error}") from None
        policies[logical_id] = documents
    return policies


@dataclass(frozen=True)
class Grant:
    """One action pattern on one resource pattern of one statement of a function's role."""

    function: str
    sid: str  # the statement's Sid, or "#n": its place in the role's statements
    action: str
    resource: str  # as resolved for this stack
    place: int = 0  # which of the statement's resources: the same whatever the parameters

    @property
    def key(self) -> tuple[str, str, str, int]:
        """The grant's identity in the template, independent of the stack's parameters."""
        return (self.function, self.sid, self.action, self.place)


def _pattern(text: str, *, ignore_case: bool) -> re.Pattern:
    """An IAM wildcard (* any run of characters, ? one) as a regular expression."""
    body = re.escape(text).replace(r"\*", ".*").replace(r"\?", ".")
    return re.compile(f"^{body}$", re.IGNORECASE if ignore_case else 0)


def _listed(value: object) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def statement_grants(function: str, documents: list[dict]) -> list[tuple[dict, list[Grant]]]:
    """Each statement of the role with its grants: every action and resource pattern of an
    Allow (none for a Deny). A statement without a Sid is named by its place: "#n"."""
    found = []
    statements = [s for document in documents for s in _listed_statements(document)]
    for number, statement in enumerate(statements, 1):
        sid = statement.get("Sid") or f"#{number}"
        mine = []
        if statement.get("Effect") == "Allow":
            resources = _listed(statement.get("Resource")) or ["*"]
            for action in _listed(statement.get("Action")):
                for place, resource in enumerate(resources):
                    mine.append(Grant(function, sid, action, resource, place))
        found.append((statement, mine))
    return found


def grants(function: str, documents: list[dict]) -> list[Grant]:
    """Every grant of the role's Allow statements."""
    return [grant for _, mine in statement_grants(function, documents) for grant in mine]


def _listed_statements(document: dict) -> list[dict]:
    statements = document.get("Statement", [])
    return [statements] if isinstance(statements, dict) else list(statements)


@dataclass
class Iam:
    """Which function a request comes from, and whether its role allows the call.

    `usage`: a file each grant that allows a call is appended to the first time it does (one
    JSON line, naming the template by its digest; many gateways may share the file), for the
    report of grants never exercised (emulator/iam_report.py).
    """

    policies: dict[str, list[dict]]
    usage: Path | None = None
    template: str = ""  # the template's digest (template_digest), for the usage file
    keys: dict[str, str] = field(default_factory=dict)  # access key id -> logical id
    used: set[Grant] = field(default_factory=set)
    denied: Counter = field(default_factory=Counter)  # (function, action, resource)

    def __post_init__(self) -> None:
        from moto.iam.access_control import IAMPolicyStatement

        self.keys = {access_key(logical_id): logical_id for logical_id in self.policies}
        self._statements: dict[str, list[tuple[IAMPolicyStatement, list[Grant]]]] = {}
        for logical_id, documents in self.policies.items():
            self._statements[logical_id] = [
                (IAMPolicyStatement(statement), mine)
                for statement, mine in statement_grants(logical_id, documents)
            ]
        self._decisions: dict[tuple[str, str, str], tuple[Grant, ...] | None] = {}

    def caller(self, authorization: str | None) -> str | None:
        """The function whose role signed the request (its Authorization header), if any."""
        match = _CREDENTIAL.search(authorization or "")
        return self.keys.get(match.group(1)) if match else None

    def allows(self, function: str, action: str, resource: str) -> bool:
        """IAM's evaluation of the role (moto's, statement by statement): an explicit Deny
        wins, else some Allow must match. Decisions are remembered: roles do not change."""
        key = (function, action, resource)
        if key not in self._decisions:
            self._decisions[key] = self._decide(function, action, resource)
        matched = self._decisions[key]
        if matched is None:
            self.denied[key] += 1
            logger.warning("%s's role does not allow %s on %s", function, action, resource)
            return False
        for grant in matched:
            if grant not in self.used:
                self.used.add(grant)
                self._record(grant)
        return True

    def _decide(self, function: str, action: str, resource: str) -> tuple[Grant, ...] | None:
        from moto.iam.access_control import PermissionResult

        matched: list[Grant] = []
        for statement, statement_grants in self._statements[function]:
            result = statement.is_action_permitted(action, resource)
            if result == PermissionResult.DENIED:
                return None
            if result == PermissionResult.PERMITTED:
                named = [
                    grant
                    for grant in statement_grants
                    if _pattern(grant.action, ignore_case=True).match(action)
                    and _pattern(grant.resource, ignore_case=False).match(resource)
                ]
                # (moto matched; a pattern IAM reads differently counts the whole statement)
                matched += named or statement_grants
        return tuple(matched) if matched else None

    def _record(self, grant: Grant) -> None:
        if self.usage is None:
            return
        line = json.dumps({"template": self.template, **dataclasses.asdict(grant)}) + "\n"
        # One small write in append mode: lines of concurrent gateways never interleave.
        with self.usage.open("a") as file:
            file.write(line)

    def denial(self, function: str, action: str, resource: str) -> str:
        """AWS's wording of the refusal."""
        who = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{function}Role/{function}"
        return f"User: {who} is not authorized to perform: {action} on resource: {resource}"
