"""The multi-Region variant of the template: the four tables as DynamoDB global tables.

Chosen at a stage's first deploy (`--replica-regions`): CloudFormation cannot turn a table into a
global table in place (DEPLOY.md has the import procedure). Global tables here are on-demand, so
the provisioned-capacity parameters and their auto scaling leave the variant.
"""

from __future__ import annotations

import copy

_PROVISIONED_PARAMETERS = (
    "BillingMode",
    "ReadCapacityMin",
    "ReadCapacityMax",
    "WriteCapacityMin",
    "WriteCapacityMax",
    "TargetUtilization",
)


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


def global_tables(template: dict, replica_regions: list[str]) -> dict:
    """The template with every table a global table replicated to `replica_regions`."""
    if not replica_regions:
        raise ValueError("a global-tables variant needs at least one replica Region")
    variant = copy.deepcopy(template)
    resources = variant["Resources"]
    for logical_id, resource in list(resources.items()):
        if resource.get("Condition") == "Provisioned":
            del resources[logical_id]  # auto scaling of provisioned capacity
        elif resource["Type"] == "AWS::DynamoDB::Table":
            resources[logical_id] = {
                "Type": "AWS::DynamoDB::GlobalTable",
                "DeletionPolicy": resource.get("DeletionPolicy", "Delete"),
                "UpdateReplacePolicy": resource.get("UpdateReplacePolicy", "Retain"),
                "Properties": _global_table(resource["Properties"], replica_regions),
            }
    for name in _PROVISIONED_PARAMETERS:
        variant["Parameters"].pop(name, None)
    variant["Conditions"].pop("Provisioned", None)
    return variant
