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
