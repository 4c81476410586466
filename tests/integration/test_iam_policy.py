"""The deployed policy grants exactly the AWS calls the code makes.

A whole journey runs through the API with every botocore call recorded (tests/conftest.py);
the recorded IAM actions must equal the policy's, apart from Lambda's own logging.
"""
import fnmatch
import json
from pathlib import Path

import boto3
import pytest

from chalicelib.adapters.dynamodb import SessionRepository
from tests.conftest import ivs_channels, make_brand, make_product, make_session

CHALICE = Path(__file__).resolve().parents[2] / ".chalice"
# Not calls of ours: Lambda writes its logs; IVS asks for TagResource when a channel is created with tags.
NOT_CALLED_BY_CODE = {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "ivs:TagResource",
                      "ivschat:TagResource",
                      # Lambda's event source mapping reads the stock stream for the stock_ticker handler.
                      "dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator",
                      "dynamodb:ListStreams"}


def policy(stage):
    return json.loads((CHALICE / f"policy-{stage}.json").read_text())


def granted_actions(stage):
    return {action for statement in policy(stage)["Statement"] for action in statement["Action"]}


def aws_calls_on(api, action):
    """Record the AWS calls of work done outside a request (the scheduled sweeper)."""
    api.recorder.on.value = True
    try:
        return action()
    finally:
        api.recorder.on.value = False


def run_journey(api, operator_key, monkeypatch, clock):
    brand = make_brand(api, operator_key)
    key = brand["apiKey"]
    product = make_product(api, key, stock=5)
    api.get("/v1/products", key=key)
    api.get(f"/v1/products/{product['id']}")
    api.patch(f"/v1/products/{product['id']}", {"title": "Renamed"}, key=key)
    api.post(f"/v1/products/{product['id']}/stock", {"delta": 1}, key=key)
    session = make_session(api, key)
    api.post(f"/v1/sessions/{session['id']}/lineup", {"productId": product["id"], "quantity": 1}, key=key)
    api.patch(f"/v1/sessions/{session['id']}/lineup/{product['id']}", {"perCustomerLimit": 1}, key=key)
    api.call("DELETE", f"/v1/sessions/{session['id']}/lineup/{product['id']}", key=key)
    api.post(f"/v1/sessions/{session['id']}/lineup", {"productId": product["id"], "quantity": 1}, key=key)
    api.get("/v1/brand/sessions", key=key)
    api.get(f"/v1/sessions/{session['id']}")
    api.get(f"/v1/sessions/{session['id']}/ingest", key=key)
    api.post(f"/v1/sessions/{session['id']}/start", key=key)
    api.post(f"/v1/sessions/{session['id']}/end", key=key)
    api.get("/v1/sessions?status=ended")

    # Checkout: reserve, decline then pay, cancel, expire, and the brand's listing.

    from chalicelib import bootstrap
    from tests.conftest import live_drop, make_shopper, order

    from chalicelib.settings import get_settings
    from devstack.streams import StreamReader

    stock_stream = StreamReader(get_settings().tables["stock"])
    drop_session, drop_product = live_drop(api, key, quantity=5, hold_seconds=5)
    shopper = make_shopper(api)
    first = order(api, shopper, drop_session["id"], drop_product["id"]).json
    api.post(f"/v1/orders/{first['id']}/pay", {"paymentToken": "decline"}, key=shopper["token"])
    api.post(f"/v1/orders/{first['id']}/pay", {"paymentToken": "ok"}, key=shopper["token"])
    second = order(api, shopper, drop_session["id"], drop_product["id"]).json
    api.post(f"/v1/orders/{second['id']}/cancel", key=shopper["token"])
    order(api, shopper, drop_session["id"], drop_product["id"])
    api.get(f"/v1/orders/{first['id']}", key=shopper["token"])
    api.get(f"/v1/orders?sessionId={drop_session['id']}", key=key)
    api.get(f"/v1/sessions/{drop_session['id']}/live")
    clock.advance(5.5)
    aws_calls_on(api, bootstrap.services().checkout.release_expired)

    # The live layer: pinning, late joiners, replays; and the IVS calls that only the AWS adapter
    # makes (the embedded stack records them instead), driven through botocore's Stubber.
    api.post(f"/v1/sessions/{drop_session['id']}/feature", {"productId": drop_product["id"]}, key=key)
    api.get(f"/v1/sessions/{drop_session['id']}/replay")
    drive_ivs_through_the_services(api, key, clock)
    records = stock_stream.read()
    aws_calls_on(api, lambda: bootstrap.services().live.on_stock_records(records))
    shopper_for_chat = make_shopper(api)
    api.post(f"/v1/sessions/{drop_session['id']}/likes", key=shopper_for_chat["token"])
    api.get(f"/v1/sessions/{drop_session['id']}/live")
    empty = make_session(api, key)
    api.call("DELETE", f"/v1/sessions/{empty['id']}", key=key)

    # Webhooks: every route, then the stream handlers' fan-out and the sweeper's delivery (KMS
    # encrypts the secret at registration and rotation, and decrypts it to sign).
    from chalicelib.api.webhook_schemas import EventViews
    from tests.webhook_receiver import start_receiver

    receiver = start_receiver()
    try:
        orders_stream = StreamReader(get_settings().tables["orders"])
        hook = api.post("/v1/webhooks", {"url": receiver.url, "events": ["order.reserved"]}, key=key).json
        api.get("/v1/webhooks", key=key)
        api.get(f"/v1/webhooks/{hook['id']}", key=key)
        api.patch(f"/v1/webhooks/{hook['id']}", {"description": "Warehouse"}, key=key)
        api.post(f"/v1/webhooks/{hook['id']}/rotate-secret", key=key)
        ping = api.post(f"/v1/webhooks/{hook['id']}/test", key=key).json
        order(api, make_shopper(api), drop_session["id"], drop_product["id"])
        records = [(str(n), old, new) for n, (old, new) in enumerate(orders_stream.read())]
        webhooks = bootstrap.services().webhooks
        assert aws_calls_on(api, lambda: webhooks.on_order_records(records, EventViews())) >= 1
        webhooks.workers = 1  # in this thread: the recorder follows one thread
        aws_calls_on(api, webhooks.deliver_due)
        receiver.wait_for(2)
        api.get(f"/v1/webhooks/{hook['id']}/deliveries", key=key)
        api.post(f"/v1/webhooks/{hook['id']}/deliveries/{ping['id']}/retry", key=key)
        api.call("DELETE", f"/v1/webhooks/{hook['id']}", key=key)
    finally:
        receiver.close()

    # A session whose write fails must not leave its IVS channel behind.
    def failing_add(self, session):
        raise RuntimeError("injected DynamoDB failure")

    monkeypatch.setattr(SessionRepository, "add", failing_add)
    before = {c["arn"] for c in ivs_channels()}
    assert api.post("/v1/sessions", {"title": "Doomed"}, key=key).status_code == 500
    assert {c["arn"] for c in ivs_channels()} == before
    monkeypatch.undo()


def drive_ivs_through_the_services(api, key, clock):
    """The IVS and IVS Chat calls the AWS adapters make, reached through the API's own journeys
    (a show from creation to deletion, with a shopper's chat token), on Stubber clients: the
    embedded stack records these calls instead of making them."""
    from datetime import datetime, timezone

    from chalicelib import bootstrap
    from chalicelib.adapters.ivs import AwsIvs
    from chalicelib.adapters.ivs_chat import AwsChat
    from tests.conftest import make_shopper
    from tests.stubs import stubbed

    channel = "arn:aws:ivs:us-east-1:123456789012:channel/abcdABCDefgh"
    room = "arn:aws:ivschat:us-east-1:123456789012:room/g1H2I3j4k5L6"
    later = datetime(2030, 1, 1, tzinfo=timezone.utc)
    with stubbed("ivs") as (ivs, video), stubbed("ivschat") as (ivschat, chat):
        video.add_response("create_channel", {"channel": {"arn": channel, "playbackUrl": "https://p.example/x.m3u8",
                                                          "ingestEndpoint": "i.example"}})
        chat.add_response("create_room", {"arn": room})
        video.add_response("list_stream_keys", {"streamKeys": [{"arn": channel.replace("channel", "stream-key")}]})
        video.add_response("get_stream_key", {"streamKey": {"value": "sk_live_x"}})
        video.add_response("put_metadata", {})
        video.add_response("get_stream", {"stream": {"viewerCount": 7}})
        chat.add_response("create_chat_token", {"token": "t", "tokenExpirationTime": later, "sessionExpirationTime": later})
        chat.add_response("delete_message", {"id": "ABCDEFabcdef"})
        chat.add_response("disconnect_user", {})
        video.add_response("stop_stream", {})
        video.add_response("delete_channel", {})
        chat.add_response("delete_room", {})
        bootstrap.override(clock=clock, channels=AwsIvs(ivs), chat=AwsChat(ivschat))
        try:
            session = make_session(api, key)
            product = make_product(api, key, stock=2)
            base = f"/v1/sessions/{session['id']}"
            assert api.get(base + "/ingest", key=key).json["streamKey"] == "sk_live_x"
            api.post(base + "/lineup", {"productId": product["id"], "quantity": 1}, key=key)
            api.post(base + "/start", key=key)
            assert api.post(base + "/feature", {"productId": product["id"]}, key=key).json["metadata"]["delivered"]
            assert api.get(base + "/live").json["viewerCount"] == 7
            assert api.post(base + "/chat-token", key=make_shopper(api)["token"]).status_code == 200
            api.post(base + "/chat/delete-message", {"messageId": "ABCDEFabcdef"}, key=key)
            api.post(base + "/chat/disconnect", {"userId": "shp_x"}, key=key)
            api.post(base + "/end", key=key)
            assert api.call("DELETE", base, key=key).status_code == 200
        finally:
            bootstrap.override(clock=clock)


def test_policy_grants_exactly_the_calls_the_code_makes(api, operator_key, aws_calls, monkeypatch, clock):
    from chalicelib import bootstrap

    boto3.client("ssm").put_parameter(Name="/livedrop/dev/operator-key", Value="ssm-op", Type="SecureString",
                                      Overwrite=True)
    monkeypatch.delenv("LIVEDROP_OPERATOR_KEY")
    monkeypatch.setenv("LIVEDROP_OPERATOR_KEY_PARAMETER", "/livedrop/dev/operator-key")
    bootstrap.reset()
    aws_calls.actions.clear()
    try:
        run_journey(api, "ssm-op", monkeypatch, clock)
    finally:
        monkeypatch.undo()
        bootstrap.reset()
    recorded = set(aws_calls.actions)
    for stage in ("dev", "prod"):
        granted = granted_actions(stage)
        assert recorded - granted == set(), f"{stage} policy lacks calls the code makes"
        assert granted - recorded - NOT_CALLED_BY_CODE == set(), f"{stage} policy grants calls the code never makes"


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_policy_resources_cover_the_stage_tables_and_nothing_else(stage):
    config = json.loads((CHALICE / "config.json").read_text())
    env = config["stages"][stage]["environment_variables"]
    tables = [value for name, value in env.items() if name.endswith("_TABLE")]
    statement = next(s for s in policy(stage)["Statement"] if s["Sid"] == "Tables")
    for table in tables:
        arn = f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}"
        assert any(fnmatch.fnmatch(arn, pattern) for pattern in statement["Resource"])
    other = "prod" if stage == "dev" else "dev"
    assert not any(fnmatch.fnmatch(f"arn:aws:dynamodb:us-east-1:1:table/livedrop-{other}-brands", p)
                   for p in statement["Resource"])
    assert config["stages"][stage]["autogen_policy"] is False


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_policy_reads_every_stream_a_handler_reads(stage):
    from infra.tables import ANALYTICS_STREAMS, WEBHOOK_STREAMS

    statement = next(s for s in policy(stage)["Statement"] if s["Sid"] == "Streams")
    for table in {"stock", *ANALYTICS_STREAMS, *WEBHOOK_STREAMS}:
        arn = f"arn:aws:dynamodb:us-east-1:123456789012:table/livedrop-{stage}-{table}/stream/2026-11-22T00:00:00.000"
        assert any(fnmatch.fnmatch(arn, pattern) for pattern in statement["Resource"]), table


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_policy_opens_webhook_secrets_only_with_the_stages_key(stage):
    from infra.keys import webhook_key_alias

    statement = next(s for s in policy(stage)["Statement"] if s["Sid"] == "WebhookSecrets")
    assert statement["Condition"] == {"ForAnyValue:StringEquals": {"kms:ResourceAliases": webhook_key_alias(stage)}}


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_every_secret_parameter_the_stage_names_is_readable_and_stripes_can_be(stage):
    """The stage's *_PARAMETER variables, and Stripe's two (a stage may switch to Stripe by setting
    LIVEDROP_PAYMENTS and these names alone), are the SSM parameters the policy lets it read."""
    config = json.loads((CHALICE / "config.json").read_text())
    env = config["stages"][stage]["environment_variables"]
    named = {value for name, value in env.items() if name.endswith("_PARAMETER")}
    named |= {f"/livedrop/{stage}/stripe-secret-key", f"/livedrop/{stage}/stripe-webhook-secret"}
    statement = next(s for s in policy(stage)["Statement"] if s["Sid"] == "Secrets")
    assert {arn.split(":parameter", 1)[1] for arn in statement["Resource"]} == named
