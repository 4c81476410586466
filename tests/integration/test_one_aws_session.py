"""A container makes one botocore session and one client per service: every PynamoDB model, the
checkout's transactions and the other adapters share them (bench/first_requests.py measures what
that saves a cold container)."""
import botocore.session
import pynamodb.connection.base

from chalicelib import bootstrap
from chalicelib.adapters import aws
from chalicelib.adapters.dynamodb.models import ITEM_MODELS, MODELS
from chalicelib.settings import get_settings
from tests.conftest import live_drop, make_brand, make_shopper, order


def test_every_model_and_the_transactions_use_the_one_dynamodb_client(api):
    from chalicelib.adapters.dynamodb.models import Db

    bootstrap.services()
    settings = get_settings()
    client = aws.client("dynamodb", settings.region, settings.dynamodb_endpoint)
    models = [*MODELS.values(), *(model for extra in ITEM_MODELS.values() for model in extra)]
    assert {id(model._get_connection().connection.client) for model in models} == {id(client)}
    assert Db(settings.region, settings.dynamodb_endpoint, None).client is client


def test_a_fresh_container_serving_a_show_makes_one_session_and_one_client_per_service(api, operator_key,
                                                                                       monkeypatch):
    made = []
    sessions = []
    create_client, get_session = botocore.session.Session.create_client, botocore.session.get_session

    def counting_client(self, service_name, *args, **kwargs):
        made.append(service_name)
        return create_client(self, service_name, *args, **kwargs)

    def counting_session(*args, **kwargs):
        sessions.append(1)
        return get_session(*args, **kwargs)

    monkeypatch.setattr(botocore.session.Session, "create_client", counting_client)
    monkeypatch.setattr(botocore.session, "get_session", counting_session)
    monkeypatch.setattr(pynamodb.connection.base, "get_session", counting_session)  # its own reference
    # As a new container: no session, no client, no services yet.
    aws.session.cache_clear()
    aws.client.cache_clear()
    bootstrap.reset()
    key = make_brand(api, operator_key)["apiKey"]
    session, product = live_drop(api, key)
    for _ in range(3):
        assert api.get(f"/v1/sessions/{session['id']}/live").status_code == 200
        assert order(api, make_shopper(api), session["id"], product["id"]).status_code == 201
    assert len(sessions) == 1
    assert made.count("dynamodb") == 1 and len(made) == len(set(made))


def test_the_parameter_and_secret_providers_use_the_containers_clients(aws_stack):
    from chalicelib.adapters import secrets

    secrets._parameters.cache_clear()  # as a new container (an earlier test may have made them)
    secrets._secrets.cache_clear()
    assert secrets._parameters().client is aws.client("ssm")
    assert secrets._secrets().client is aws.client("secretsmanager")


def test_priming_sends_nothing_and_answers_only_its_own_thread(aws_stack):
    """`aws.prime` runs calls through the client with an empty answer; a real request another
    thread makes meanwhile reaches DynamoDB and gets DynamoDB's answer."""
    import threading

    settings = get_settings()
    table = settings.tables["brands"]
    key = {"id": {"S": "prime-test-" + threading.get_ident().__str__()}}
    client = botocore.session.get_session().create_client(  # a fresh client: no operation primed yet
        "dynamodb", region_name=settings.region, endpoint_url=settings.dynamodb_endpoint)
    client.put_item(TableName=table, Item={**key, "name": {"S": "stored"}})
    answers = {}

    def calls():
        yield "get_item", {"TableName": table, "Key": key, "ConsistentRead": True}
        # Between two primed calls, while the priming answer is registered: another thread's call.
        other = threading.Thread(target=lambda: answers.update(
            other=client.get_item(TableName=table, Key=key, ConsistentRead=True)))
        other.start()
        other.join()
        yield "get_item", {"TableName": table, "Key": key, "ConsistentRead": True}

    primed = []
    client.meta.events.register("after-call.dynamodb.GetItem",
                                lambda parsed, **_: primed.append((threading.current_thread().name, parsed)))
    aws.prime(client, calls())
    own = [parsed for thread, parsed in primed if thread == threading.current_thread().name]
    assert len(own) == 2 and not any("Item" in parsed for parsed in own)  # never sent: the item exists
    assert answers["other"]["Item"]["name"] == {"S": "stored"}
    # The priming answer is gone once priming is over.
    assert client.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]["name"] == {"S": "stored"}
    client.delete_item(TableName=table, Key=key)


def test_priming_without_credentials_leaves_the_first_request_to_pay(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    client = botocore.session.get_session().create_client("dynamodb", region_name="us-east-1",
                                                           endpoint_url="http://127.0.0.1:9")
    aws.prime(client, [("get_item", {"TableName": "t", "Key": {"pk": {"S": "x"}}})])  # does not raise


def test_the_priming_calls_would_be_refused_if_they_were_sent(aws_stack):
    import pytest
    from botocore.exceptions import ClientError

    from chalicelib.adapters.dynamodb.models import priming_calls

    settings = get_settings()
    client = aws.client("dynamodb", settings.region, settings.dynamodb_endpoint)
    calls = priming_calls(settings)
    assert {operation for operation, _ in calls} == {"query", "transact_write_items", "get_item", "batch_get_item"}
    for operation, params in calls:
        with pytest.raises(ClientError) as refused:
            getattr(client, operation)(**params)
        assert refused.value.response["Error"]["Code"] == "ValidationException", operation
