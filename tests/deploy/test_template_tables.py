"""template.yaml's tables are exactly the PynamoDB models' tables: keys, indexes, TTL."""

from __future__ import annotations

import pytest
from pynamodb.attributes import TTLAttribute

from lambdas.models import TABLES


def _tables(template: dict) -> dict[str, dict]:
    """{base name: properties} of the template's tables, from "dynamowave-${StageName}-<base>"."""
    found = {}
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::DynamoDB::Table":
            name = resource["Properties"]["TableName"]["Fn::Sub"]
            assert name.startswith("dynamowave-${StageName}-"), name
            found[name.removeprefix("dynamowave-${StageName}-")] = resource["Properties"]
    return found


def _keys(schema: list[dict]) -> list[tuple[str, str]]:
    """(attribute, HASH|RANGE) pairs; the order of a key schema list carries no meaning."""
    return sorted((key["AttributeName"], key["KeyType"]) for key in schema)


def test_the_template_has_one_table_per_model(template):
    """Every model has a table in the template and the template has no other table."""
    assert set(_tables(template)) == set(TABLES.values())


@pytest.mark.parametrize("model", list(TABLES), ids=lambda model: model.__name__)
def test_table_matches_model(template, model):
    """Key schema, attribute types, GSIs with their projections, and TTL match the model."""
    table = _tables(template)[TABLES[model]]
    schema = model._get_schema()
    assert _keys(table["KeySchema"]) == _keys(schema["key_schema"])
    assert {(a["AttributeName"], a["AttributeType"]) for a in table["AttributeDefinitions"]} == {
        (a["AttributeName"], a["AttributeType"]) for a in schema["attribute_definitions"]
    }
    indexes = {
        index["IndexName"]: (
            _keys(index["KeySchema"]),
            index["Projection"]["ProjectionType"],
            sorted(index["Projection"].get("NonKeyAttributes", [])),
        )
        for index in table.get("GlobalSecondaryIndexes", [])
    }
    assert indexes == {
        index["index_name"]: (
            _keys(index["key_schema"]),
            index["projection"]["ProjectionType"],
            sorted(index["projection"].get("NonKeyAttributes", [])),
        )
        for index in schema["global_secondary_indexes"]
    }
    assert not schema["local_secondary_indexes"]
    ttl = [name for name, a in model.get_attributes().items() if isinstance(a, TTLAttribute)]
    if ttl:
        assert table["TimeToLiveSpecification"] == {"AttributeName": ttl[0], "Enabled": True}
    else:
        assert "TimeToLiveSpecification" not in table


def test_tables_are_protected(template):
    """Every table is encrypted, recoverable to a point in time, and deletion-protected in prod."""
    for table in _tables(template).values():
        assert table["SSESpecification"] == {"SSEEnabled": True}
        assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert table["DeletionProtectionEnabled"] == {"Fn::If": ["IsProduction", True, False]}


def test_provisioned_mode_scales_every_table_and_index(template):
    """With PROVISIONED billing, reads and writes of every table and GSI have target tracking."""
    # The tables' scaling only (the functions' is ConcurrencyScaling's: test_template_domain.py).
    resources = {
        k: r
        for k, r in template["Resources"].items()
        if r.get("Condition") == "Provisioned" or r["Type"] == "AWS::DynamoDB::Table"
    }
    targets = {
        (r["Properties"]["ResourceId"]["Fn::Sub"], r["Properties"]["ScalableDimension"])
        for r in resources.values()
        if r["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget"
    }
    expected = set()
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::DynamoDB::Table":
            continue
        for unit in ("Read", "Write"):
            expected.add((f"table/${{{logical_id}}}", f"dynamodb:table:{unit}CapacityUnits"))
            for index in resource["Properties"].get("GlobalSecondaryIndexes", []):
                expected.add(
                    (
                        f"table/${{{logical_id}}}/index/{index['IndexName']}",
                        f"dynamodb:index:{unit}CapacityUnits",
                    )
                )
    assert targets == expected
    policies = [
        r for r in resources.values() if r["Type"] == "AWS::ApplicationAutoScaling::ScalingPolicy"
    ]
    assert len(policies) == len(targets)
    for policy in policies:
        config = policy["Properties"]["TargetTrackingScalingPolicyConfiguration"]
        assert config["TargetValue"] == {"Ref": "TargetUtilization"}
    assert template["Parameters"]["TargetUtilization"]["Default"] == 70
