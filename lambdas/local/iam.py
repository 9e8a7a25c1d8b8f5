"""IAM in the local stack: each function's role as its template declares it, enforced.

Every execution environment of a function holds credentials of that function's own (as a
Lambda role's session would be); a call signed with them to the gateway's `@connections` or
Lambda Invoke API is authorized against the function's role, as translated from the template
by samtranslator (SAM policy templates expanded) with its intrinsics resolved against the local
account, region, API id and stage. What the role does not allow fails as AWS fails it. Calls
signed with any other key (a developer's, the tests', the site's) are not restricted, as an
administrator's are not. Policies are evaluated by moto's IAM policy engine. DynamoDB calls go
straight to dynalite and are not checked yet.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lambdas.local.intrinsics import Stack, Unresolvable

if TYPE_CHECKING:
    from lambdas.local.template import Function

logger = logging.getLogger("dynamowave.iam")

ACCOUNT_ID = "000000000000"  # the local account, as in the events and ARNs the gateway builds
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


def _translated(template: dict, region: str) -> dict:
    """The template as CloudFormation sees it after the SAM transform (roles made explicit)."""
    if "AWS::Serverless-2016-10-31" not in str(template.get("Transform", "")):
        return template
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    sam = copy.deepcopy(template)
    (sam.get("Globals", {}).get("Function", {}) or {}).pop("CodeUri", None)
    for resource in sam.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource.setdefault("Properties", {})["CodeUri"] = "s3://local/code.zip"
    os.environ.setdefault("AWS_DEFAULT_REGION", region)  # samtranslator picks the partition
    translator = Translator(managed_policy_map={}, sam_parser=Parser())
    try:
        return translator.translate(sam, parameter_values={}, get_managed_policy_map=dict)
    except Exception as error:
        raise PolicyError(f"the SAM transform failed: {error}") from None


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
    translated = _translated(template, region)
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


@dataclass
class Iam:
    """Which function a request comes from, and whether its role allows the call."""

    policies: dict[str, list[dict]]
    keys: dict[str, str] = field(default_factory=dict)  # access key id -> logical id
    exercised: Counter = field(default_factory=Counter)  # (function, action, resource)
    denied: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        from moto.iam.access_control import IAMPolicy

        self.keys = {access_key(logical_id): logical_id for logical_id in self.policies}
        self._engines = {
            logical_id: [IAMPolicy(json.dumps(document)) for document in documents]
            for logical_id, documents in self.policies.items()
        }

    def caller(self, authorization: str | None) -> str | None:
        """The function whose role signed the request (its Authorization header), if any."""
        match = _CREDENTIAL.search(authorization or "")
        return self.keys.get(match.group(1)) if match else None

    def allows(self, function: str, action: str, resource: str) -> bool:
        """IAM's evaluation of the role: an explicit Deny wins, else some Allow must match."""
        from moto.iam.access_control import PermissionResult

        results = [e.is_action_permitted(action, resource) for e in self._engines[function]]
        allowed = PermissionResult.DENIED not in results and PermissionResult.PERMITTED in results
        (self.exercised if allowed else self.denied)[(function, action, resource)] += 1
        if not allowed:
            logger.warning("%s's role does not allow %s on %s", function, action, resource)
        return allowed

    def denial(self, function: str, action: str, resource: str) -> str:
        """AWS's wording of the refusal."""
        who = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{function}Role/{function}"
        return f"User: {who} is not authorized to perform: {action} on resource: {resource}"
