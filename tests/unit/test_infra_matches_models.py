"""One source of truth: the PynamoDB models agree with infra/ (keys, indexes, TTL), and the
committed CloudFormation template is exactly what infra/ generates."""
import json
from pathlib import Path

import pytest

from chalicelib.adapters.dynamodb import MODELS
from chalicelib.adapters.dynamodb.models import ITEM_MODELS
from chalicelib.settings import TABLE_KEYS
from infra.tables import TABLES, TIME_TO_LIVE, cloudformation_template

ROOT = Path(__file__).resolve().parents[2]


def test_the_same_tables_everywhere():
    assert set(TABLES) == set(TABLE_KEYS) == set(MODELS)


def key_schema(schema):
    return sorted((k["AttributeName"], k["KeyType"]) for k in schema)


@pytest.mark.parametrize("key", sorted(MODELS))
def test_model_keys_and_indexes_match_infra(key):
    model_schema = MODELS[key]._get_schema()
    definition = TABLES[key]
    assert key_schema(model_schema["key_schema"]) == key_schema(definition["KeySchema"])
    model_types = {a["AttributeName"]: a["AttributeType"] for a in model_schema["attribute_definitions"]}
    infra_types = {a["AttributeName"]: a["AttributeType"] for a in definition["AttributeDefinitions"]}
    assert model_types == infra_types
    for model_kind, infra_kind in (("global_secondary_indexes", "GlobalSecondaryIndexes"),
                                   ("local_secondary_indexes", "LocalSecondaryIndexes")):
        model_indexes = {i["index_name"]: (key_schema(i["key_schema"]), i["projection"]["ProjectionType"])
                         for i in model_schema.get(model_kind, [])}
        infra_indexes = {i["IndexName"]: (key_schema(i["KeySchema"]), i["Projection"]["ProjectionType"])
                         for i in definition.get(infra_kind, [])}
        assert model_indexes == infra_indexes, infra_kind


@pytest.mark.parametrize("key, model", [(key, model) for key, models in ITEM_MODELS.items() for model in models])
def test_other_item_models_share_their_tables_keys(key, model):
    assert key_schema(model._get_schema()["key_schema"]) == key_schema(TABLES[key]["KeySchema"])
    assert model._ttl_attribute() is None and not model._get_schema().get("global_secondary_indexes")


@pytest.mark.parametrize("key", sorted(MODELS))
def test_ttl_attribute_matches(key):
    ttl = MODELS[key]._ttl_attribute()
    assert (ttl.attr_name if ttl else None) == TIME_TO_LIVE.get(key)


def test_committed_template_is_generated():
    committed = json.loads((ROOT / "infra" / "template.json").read_text())
    assert committed == cloudformation_template(), "run `python -m infra template > infra/template.json`"


def test_template_passes_cfn_lint():
    import subprocess
    import sys
    from pathlib import Path

    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run([str(cfn_lint), str(ROOT / "infra" / "template.json")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
