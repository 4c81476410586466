"""The DynamoDB tables: one definition each, in CreateTable's own shape.

The same definitions create the tables on the embedded stack (`create_tables`) and render the
CloudFormation template that deploys them to AWS (`cloudformation_template`), so the two can not
drift; tests/unit/test_infra_matches_models.py holds the PynamoDB models to them.
"""
from __future__ import annotations

from typing import Any

from infra.buckets import private_bucket
from infra.identity import IDENTITY_OUTPUTS, IDENTITY_RESOURCES
from infra.keys import KEY_OUTPUTS, KEY_RESOURCES
from infra.web import WEB_OUTPUTS, WEB_RESOURCES

STREAM = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}

TABLES: dict[str, dict[str, Any]] = {
    "brands": {
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
    },
    "products": {
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "brandId", "AttributeType": "S"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "byBrand",
                "KeySchema": [
                    {"AttributeName": "brandId", "KeyType": "HASH"},
                    {"AttributeName": "id", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        "StreamSpecification": STREAM,
    },
    "sessions": {
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
            {"AttributeName": "listKey", "AttributeType": "S"},
            {"AttributeName": "brandId", "AttributeType": "S"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "byStatus",
                "KeySchema": [
                    {"AttributeName": "status", "KeyType": "HASH"},
                    {"AttributeName": "listKey", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            # A brand's own sessions (the host console), every status, by scheduled time.
            {
                "IndexName": "byBrand",
                "KeySchema": [
                    {"AttributeName": "brandId", "KeyType": "HASH"},
                    {"AttributeName": "listKey", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
        ],
        "StreamSpecification": STREAM,
    },
    "lineup": {
        "KeySchema": [
            {"AttributeName": "sessionId", "KeyType": "HASH"},
            {"AttributeName": "productId", "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": "sessionId", "AttributeType": "S"},
            {"AttributeName": "productId", "AttributeType": "S"},
            {"AttributeName": "drawDue", "AttributeType": "S"},
            {"AttributeName": "opensAt", "AttributeType": "S"},
        ],
        # Sparse: only draw drops still to draw or allocate carry drawDue; the draws' sweeper
        # reads what is due by opensAt, never the whole lineup.
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "drawsDue",
                "KeySchema": [
                    {"AttributeName": "drawDue", "KeyType": "HASH"},
                    {"AttributeName": "opensAt", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
        "StreamSpecification": STREAM,
    },
    # One item per shard of a drop's stock: the hot items of a spike, each its own partition.
    "stock": {
        "KeySchema": [{"AttributeName": "shardKey", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "shardKey", "AttributeType": "S"}],
        "StreamSpecification": STREAM,
    },
    # Units each shopper holds of each drop, for per-customer limits.
    "purchases": {
        "KeySchema": [{"AttributeName": "countKey", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "countKey", "AttributeType": "S"}],
    },
    "orders": {
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "sessionId", "AttributeType": "S"},
            {"AttributeName": "createdAt", "AttributeType": "S"},
            {"AttributeName": "holdShard", "AttributeType": "N"},
            {"AttributeName": "holdUntil", "AttributeType": "N"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "bySession",
                "KeySchema": [
                    {"AttributeName": "sessionId", "KeyType": "HASH"},
                    {"AttributeName": "createdAt", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": "onHold",
                "KeySchema": [
                    {"AttributeName": "holdShard", "KeyType": "HASH"},
                    {"AttributeName": "holdUntil", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
        ],
        "StreamSpecification": STREAM,
    },
    # What a show put on top of the video, in order: features (pins), for /live and replay chapters.
    "timeline": {
        "KeySchema": [
            {"AttributeName": "sessionId", "KeyType": "HASH"},
            {"AttributeName": "seq", "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": "sessionId", "AttributeType": "S"},
            {"AttributeName": "seq", "AttributeType": "N"},
        ],
        "StreamSpecification": STREAM,  # pins and drops, for webhooks
    },
    # Engagement counters: likes spread over shards, and the send slots and tickers of the live layer.
    "counters": {
        "KeySchema": [{"AttributeName": "counterKey", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "counterKey", "AttributeType": "S"}],
        "StreamSpecification": STREAM,  # likes, for the show's analytics
    },
    # Show analytics, aggregated from the streams (chalicelib/adapters/dynamodb/analytics.py): a
    # show's figures in its own partition, and apart from them the markers of the stream records
    # applied, the shoppers who paid, and the shows still to settle.
    "analytics": {
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
    },
    # Webhook endpoints, in their brand's partition.
    "webhooks": {
        "KeySchema": [
            {"AttributeName": "brandId", "KeyType": "HASH"},
            {"AttributeName": "id", "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": "brandId", "AttributeType": "S"},
            {"AttributeName": "id", "AttributeType": "S"},
        ],
    },
    # The webhook outbox, which is also the delivery log: one item per event and endpoint, in the
    # endpoint's partition (chalicelib/adapters/dynamodb/webhooks.py).
    "deliveries": {
        "KeySchema": [
            {"AttributeName": "endpointId", "KeyType": "HASH"},
            {"AttributeName": "id", "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": "endpointId", "AttributeType": "S"},
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "listKey", "AttributeType": "S"},
            {"AttributeName": "dueShard", "AttributeType": "N"},
            {"AttributeName": "nextAttemptMs", "AttributeType": "N"},
        ],
        # The log, newest first (listKey = createdAt#id).
        "LocalSecondaryIndexes": [
            {
                "IndexName": "byCreated",
                "KeySchema": [
                    {"AttributeName": "endpointId", "KeyType": "HASH"},
                    {"AttributeName": "listKey", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        # Sparse: only pending deliveries carry dueShard; the sweeper reads what is due by time.
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "due",
                "KeySchema": [
                    {"AttributeName": "dueShard", "KeyType": "HASH"},
                    {"AttributeName": "nextAttemptMs", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    },
    # Rate-limit windows (chalicelib/domain/rate_limits.py): one counter per subject, rule and
    # window, its index in the key, so nothing is ever reset; each expires by TTL after its window.
    "limits": {
        "KeySchema": [{"AttributeName": "key", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "key", "AttributeType": "S"}],
    },
    # Queue and draw drops (chalicelib/adapters/dynamodb/entries.py): one partition per drop
    # (dropKey = sessionId#productId); an entry per shopper (entryKey = the shopper id) and the
    # drop's own state under entryKeys starting with "#" (#queue, #pos#<k>, #draw).
    "entries": {
        "KeySchema": [
            {"AttributeName": "dropKey", "KeyType": "HASH"},
            {"AttributeName": "entryKey", "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": "dropKey", "AttributeType": "S"},
            {"AttributeName": "entryKey", "AttributeType": "S"},
        ],
    },
    # The built-in test payment provider's intents (adapters/payments.py); unused with Stripe.
    "payments": {
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
    },
}

# The streams the analytics handlers read, and the variable `chalice deploy` takes each ARN from.
ANALYTICS_STREAMS: dict[str, str] = {
    "orders": "LIVEDROP_ORDERS_STREAM_ARN",
    "counters": "LIVEDROP_COUNTERS_STREAM_ARN",
    "sessions": "LIVEDROP_SESSIONS_STREAM_ARN",
}

# The streams the webhook handlers read (fanned out to the deliveries table), and their variables.
WEBHOOK_STREAMS: dict[str, str] = {
    "orders": "LIVEDROP_ORDERS_STREAM_ARN",
    "sessions": "LIVEDROP_SESSIONS_STREAM_ARN",
    "timeline": "LIVEDROP_TIMELINE_STREAM_ARN",
}

# Attribute that DynamoDB's TTL expires items by, per table.
TIME_TO_LIVE: dict[str, str] = {"payments": "expiration", "counters": "expiresAt", "analytics": "expiresAt",
                                "deliveries": "expiresAt", "limits": "expiresAt"}


def create_table_request(key: str, table_name: str) -> dict[str, Any]:
    return {"TableName": table_name, "BillingMode": "PAY_PER_REQUEST", **TABLES[key]}


def create_tables(client, table_names: dict[str, str]) -> list[str]:
    """Create every missing table (idempotent) and wait until each is active."""
    existing = set(client.list_tables()["TableNames"])
    created = []
    for key, name in table_names.items():
        if name in existing:
            continue
        client.create_table(**create_table_request(key, name))
        created.append(name)
    for key, name in table_names.items():
        client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
        if key in TIME_TO_LIVE:
            client.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": TIME_TO_LIVE[key]},
            )
    return created


def delete_tables(client, table_names: dict[str, str]) -> None:
    for name in table_names.values():
        client.delete_table(TableName=name)


def cloudformation_template() -> dict[str, Any]:
    """A CloudFormation template of the same tables, named `livedrop-<Stage>-<key>`, with the
    replay recording, the webhook secrets' key (infra/keys.py), the web app's hosting (infra/web.py)
    and the shoppers' user pool (infra/identity.py)."""
    resources: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    for key, definition in TABLES.items():
        logical_id = key.capitalize() + "Table"
        properties: dict[str, Any] = {
            "TableName": {"Fn::Sub": f"livedrop-${{Stage}}-{key}"},
            "BillingMode": "PAY_PER_REQUEST",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            **definition,
        }
        if "StreamSpecification" in properties:
            properties["StreamSpecification"] = {
                "StreamViewType": properties["StreamSpecification"]["StreamViewType"]
            }
        if key in TIME_TO_LIVE:
            properties["TimeToLiveSpecification"] = {
                "AttributeName": TIME_TO_LIVE[key], "Enabled": True,
            }
        resources[logical_id] = {
            "Type": "AWS::DynamoDB::Table",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": properties,
        }
        outputs[logical_id] = {"Value": {"Ref": logical_id}}
    resources.update(RECORDING_RESOURCES)
    outputs["RecordingConfigurationArn"] = {
        "Description": "Set LIVEDROP_IVS_RECORDING_CONFIGURATION_ARN to this to record shows (replays)",
        "Value": {"Ref": "RecordingConfiguration"}}
    outputs["StockStreamArn"] = {
        "Description": "Set LIVEDROP_STOCK_STREAM_ARN to this before `chalice deploy` (the stock ticker)",
        "Value": {"Fn::GetAtt": ["StockTable", "StreamArn"]}}
    for key in {**ANALYTICS_STREAMS, **WEBHOOK_STREAMS}:
        variable = ANALYTICS_STREAMS.get(key) or WEBHOOK_STREAMS[key]
        readers = [name for name, streams in (("show analytics", ANALYTICS_STREAMS), ("webhooks", WEBHOOK_STREAMS))
                   if key in streams]
        outputs[key.capitalize() + "StreamArn"] = {
            "Description": f"Set {variable} to this before `chalice deploy` ({', '.join(readers)})",
            "Value": {"Fn::GetAtt": [key.capitalize() + "Table", "StreamArn"]}}
    resources.update(KEY_RESOURCES)
    outputs.update(KEY_OUTPUTS)
    resources.update(WEB_RESOURCES)
    outputs.update(WEB_OUTPUTS)
    resources.update(IDENTITY_RESOURCES)
    outputs.update(IDENTITY_OUTPUTS)
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "Livedrop data tables, replay recording, the webhook secrets' key, the web app's "
                       "static hosting and the shoppers' user pool (generated by `python -m infra template`; "
                       "do not edit)",
        "Parameters": {"Stage": {"Type": "String", "AllowedValues": ["dev", "prod"]}},
        "Resources": resources,
        "Outputs": outputs,
    }


# Replays: IVS records each show to this bucket; the "Recording End" event gives the session its URL.
RECORDING_RESOURCES: dict[str, Any] = {
    "RecordingsBucket": private_bucket("recordings"),
    "RecordingConfiguration": {
        "Type": "AWS::IVS::RecordingConfiguration",
        "Properties": {
            "Name": {"Fn::Sub": "livedrop-${Stage}"},
            "DestinationConfiguration": {"S3": {"BucketName": {"Ref": "RecordingsBucket"}}},
            "RecordingReconnectWindowSeconds": 60,
            "ThumbnailConfiguration": {"RecordingMode": "INTERVAL", "TargetIntervalSeconds": 30},
        },
    },
}
