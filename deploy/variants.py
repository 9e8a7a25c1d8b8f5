"""The two Regions' variants of the template (`--regions PRIMARY,SECONDARY`, DEPLOY.md "Two
Regions"): the primary's stack owns the replicated tables as DynamoDB global tables with a replica
in each Region; the secondary's stack has no such table resource and names the replicas.

Why a transform and not template Conditions: a resource's Type cannot follow a condition, and
template.yaml's tables must stay `AWS::DynamoDB::Table` for single-Region stages
(CloudFormation cannot turn a table into a global table in place). So template.yaml is written
once, and the deploy derives:

- **primary** (`primary_variant`): each table of `GLOBAL_TABLES` becomes an
  `AWS::DynamoDB::GlobalTable` whose `Replicas` are this Region and the others. CloudFormation's
  GlobalTable resource owns every replica: creating, updating and deleting them happens through
  this one stack, and the replicas exist in the other Region once it is complete.
- **secondary** (`secondary_variant`): those tables' resources are removed, and every reference
  to them (`Ref`, `GetAtt .Arn`, `${X}`/`${X.Arn}` in `Sub`) becomes the same name, or its ARN
  in the stack's own Region: the replica the primary's stack made. The uploads bucket's name
  gains the Region (bucket names are global; the primary's keeps its name).

Which tables are replicated. Global: rooms, messages, members and limits (the write model,
docs/multi-region.md), and also client-messages (the send receipts: a page's resend after a
failover must find its first send's receipt, or the message is stored twice) and follows (a
user's followed threads and read positions in them: user data, like members). Per Region, plain
tables in each Region's stack:

- **connections**: a connection id belongs to its Region's API (`@connections` of another
  Region does not know it); a replicated item would make the other Region post to ids it
  cannot reach, and every $connect/$disconnect would pay replicated writes for nothing.
- **uploads**: an upload's item names an object in its Region's uploads bucket, which is not
  replicated; an upload started in one Region is finished (sent) there. A message keeps its
  files' description in its own (global) item.

Global tables here are on-demand; the provisioned-capacity auto scaling of the replicated tables
leaves the variants (the per-Region tables keep `BillingMode` as the stage says).
"""

from __future__ import annotations

import copy
import json
import re

GLOBAL_TABLES = (
    "RoomsTable",
    "MessagesTable",
    "MembersTable",
    "LimitsTable",
    "ClientMessagesTable",
    "FollowsTable",
)
REGIONAL_TABLES = ("ConnectionsTable", "UploadsTable")
UPLOADS_BUCKET = "dynamowave-${StageName}-uploads-${AWS::AccountId}"
TABLE_ARN = "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/"


def _global_table(properties: dict, regions: list[str]) -> dict:
    replica = {
        "PointInTimeRecoverySpecification": properties["PointInTimeRecoverySpecification"],
        "DeletionProtectionEnabled": properties["DeletionProtectionEnabled"],
    }
    indexes = [
        {key: value for key, value in index.items() if key != "ProvisionedThroughput"}
        for index in properties.get("GlobalSecondaryIndexes", [])
    ]
    table = {
        "TableName": properties["TableName"],
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
        "SSESpecification": {"SSEEnabled": True},
        # Replication between Regions rides on the table's stream.
        "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"},
        "Replicas": [
            {"Region": {"Ref": "AWS::Region"}, **replica},
            *({"Region": region, **replica} for region in regions),
        ],
    }
    if indexes:
        table["GlobalSecondaryIndexes"] = indexes
    if "TimeToLiveSpecification" in properties:
        table["TimeToLiveSpecification"] = properties["TimeToLiveSpecification"]
    return table


def _without_replicated_scaling(variant: dict) -> None:
    """Drop the auto scaling (PROVISIONED only) of the replicated tables: they are on-demand."""
    resources = variant["Resources"]
    for logical_id, resource in list(resources.items()):
        if resource.get("Condition") != "Provisioned":
            continue
        text = json.dumps(resource)
        if any(re.search(rf"\b{table}\b", text) for table in GLOBAL_TABLES):
            del resources[logical_id]


def primary_variant(template: dict, replica_regions: list[str]) -> dict:
    """The template with `GLOBAL_TABLES` as global tables replicated to `replica_regions`."""
    if not replica_regions:
        raise ValueError("a primary variant needs at least one replica Region")
    variant = copy.deepcopy(template)
    _without_replicated_scaling(variant)
    resources = variant["Resources"]
    for logical_id in GLOBAL_TABLES:
        resource = resources[logical_id]
        resources[logical_id] = {
            "Type": "AWS::DynamoDB::GlobalTable",
            "DeletionPolicy": resource.get("DeletionPolicy", "Delete"),
            "UpdateReplacePolicy": resource.get("UpdateReplacePolicy", "Retain"),
            "Properties": _global_table(resource["Properties"], replica_regions),
        }
    return variant


def _table_name(resource: dict) -> str:
    """The table's name as a Sub string (template.yaml names every table !Sub "...")."""
    name = resource["Properties"]["TableName"]
    if isinstance(name, dict) and "Fn::Sub" in name and isinstance(name["Fn::Sub"], str):
        return name["Fn::Sub"]
    raise ValueError(f"a replicated table's TableName must be a !Sub string, not {name!r}")


def _by_name(node, names: dict[str, str]):
    """`node` with every reference to a table of `names` (logical id -> name Sub string) made
    by name: Ref -> the name, GetAtt Arn -> its ARN in the stack's Region, inside Sub too."""
    if isinstance(node, list):
        return [_by_name(item, names) for item in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"} and node["Ref"] in names:
        return {"Fn::Sub": names[node["Ref"]]}
    if set(node) == {"Fn::GetAtt"}:
        target = node["Fn::GetAtt"]
        logical_id, attribute = target if isinstance(target, list) else target.split(".", 1)
        if logical_id in names:
            if attribute != "Arn":
                raise ValueError(f"{logical_id}.{attribute}: only Arn is known by name")
            return {"Fn::Sub": TABLE_ARN + names[logical_id]}
    if set(node) == {"Fn::Sub"}:
        value = node["Fn::Sub"]
        text, variables = (value, None) if isinstance(value, str) else value
        for logical_id, name in names.items():
            text = text.replace(f"${{{logical_id}.Arn}}", TABLE_ARN + name)
            text = text.replace(f"${{{logical_id}}}", name)
        return {"Fn::Sub": text if variables is None else [text, _by_name(variables, names)]}
    return {key: _by_name(value, names) for key, value in node.items()}


def _rename_bucket(node, name: str):
    if isinstance(node, list):
        return [_rename_bucket(item, name) for item in node]
    if isinstance(node, dict):
        return {key: _rename_bucket(value, name) for key, value in node.items()}
    if isinstance(node, str):
        return node.replace(UPLOADS_BUCKET, name)
    return node


def secondary_variant(template: dict) -> dict:
    """The template without `GLOBAL_TABLES`' resources, naming their replicas instead, and with
    the uploads bucket named per Region."""
    variant = copy.deepcopy(template)
    _without_replicated_scaling(variant)
    names = {
        logical_id: _table_name(variant["Resources"][logical_id]) for logical_id in GLOBAL_TABLES
    }
    for logical_id in GLOBAL_TABLES:
        del variant["Resources"][logical_id]
    for section in ("Globals", "Resources", "Outputs"):
        variant[section] = _by_name(variant[section], names)
    for resource in variant["Resources"].values():
        depends = resource.get("DependsOn")
        if depends:
            kept = [
                d for d in ([depends] if isinstance(depends, str) else depends) if d not in names
            ]
            resource["DependsOn"] = kept
            if not kept:
                del resource["DependsOn"]
    for section in ("Globals", "Resources", "Outputs"):
        variant[section] = _rename_bucket(variant[section], UPLOADS_BUCKET + "-${AWS::Region}")
    return variant


def references(node, logical_ids) -> list[str]:
    """Where `node` still refers to one of `logical_ids` (for tests and a last check)."""
    found: list[str] = []
    text = json.dumps(node)
    for logical_id in logical_ids:
        pattern = rf'"Ref": "{logical_id}"|"Fn::GetAtt": \["{logical_id}"|\${{{logical_id}[}}.]'
        if re.search(pattern, text):
            found.append(logical_id)
    return found
