"""The AWS IVS adapter against botocore's Stubber: every request is checked against the IVS
service model, and the error responses IVS documents are handled as designed."""
import pytest
from botocore.stub import ANY

from chalicelib.adapters.ivs import AwsIvs
from tests.stubs import stubbed

ARN = "arn:aws:ivs:us-east-1:123456789012:channel/abcdEFGH1234"
KEY_ARN = "arn:aws:ivs:us-east-1:123456789012:stream-key/ijklMNOP5678"


@pytest.fixture
def ivs():
    with stubbed("ivs") as (client, stubber):
        yield AwsIvs(client), stubber
        stubber.assert_no_pending_responses()


def test_create_channel_keeps_no_stream_key(ivs):
    adapter, stubber = ivs
    stubber.add_response("create_channel", {
        "channel": {"arn": ARN, "playbackUrl": "https://x.m3u8", "ingestEndpoint": "abc.global-contribute.live-video.net"},
        "streamKey": {"arn": KEY_ARN, "value": "sk_secret", "channelArn": ARN},
    }, {"name": "ses_1", "type": "STANDARD", "latencyMode": "LOW", "tags": ANY,
        "recordingConfigurationArn": "arn:aws:ivs:us-east-1:123456789012:recording-configuration/r"})
    channel = adapter.create("ses_1", "brd_1", "STANDARD", "LOW",
                             "arn:aws:ivs:us-east-1:123456789012:recording-configuration/r")
    assert channel.arn == ARN and "sk_secret" not in repr(channel)


def test_stream_key_is_fetched_from_ivs(ivs):
    adapter, stubber = ivs
    stubber.add_response("list_stream_keys", {"streamKeys": [{"arn": KEY_ARN, "channelArn": ARN}]},
                         {"channelArn": ARN, "maxResults": 1})
    stubber.add_response("get_stream_key", {"streamKey": {"arn": KEY_ARN, "value": "sk_live_1", "channelArn": ARN}},
                         {"arn": KEY_ARN})
    assert adapter.stream_key(ARN) == "sk_live_1"


def test_stop_stream(ivs):
    adapter, stubber = ivs
    stubber.add_response("stop_stream", {}, {"channelArn": ARN})
    stubber.add_client_error("stop_stream", "ChannelNotBroadcasting", http_status_code=404,
                             expected_params={"channelArn": ARN})
    assert adapter.stop_stream(ARN) is True
    assert adapter.stop_stream(ARN) is False


def test_put_metadata_and_its_errors(ivs):
    adapter, stubber = ivs
    stubber.add_response("put_metadata", {}, {"channelArn": ARN, "metadata": '{"v":1}'})
    stubber.add_client_error("put_metadata", "ChannelNotBroadcasting", http_status_code=404)
    stubber.add_client_error("put_metadata", "ThrottlingException", http_status_code=429)
    stubber.add_client_error("put_metadata", "ValidationException", http_status_code=400)
    assert adapter.put_metadata(ARN, '{"v":1}').delivered is True
    assert adapter.put_metadata(ARN, '{"v":1}').reason == "channel_not_broadcasting"
    assert adapter.put_metadata(ARN, '{"v":1}').reason == "throttled"
    with pytest.raises(Exception):
        adapter.put_metadata(ARN, '{"v":1}')


def test_viewer_count(ivs):
    adapter, stubber = ivs
    stubber.add_response("get_stream", {"stream": {"channelArn": ARN, "viewerCount": 1234, "state": "LIVE"}},
                         {"channelArn": ARN})
    stubber.add_client_error("get_stream", "ChannelNotBroadcasting", http_status_code=404)
    assert adapter.viewer_count(ARN) == 1234
    assert adapter.viewer_count(ARN) is None


def test_delete_channel(ivs):
    adapter, stubber = ivs
    stubber.add_response("delete_channel", {}, {"arn": ARN})
    adapter.delete(ARN)


def drive_every_call():
    """Every IVS call the AWS adapter makes, stubbed: used by the IAM policy test to see them."""
    with stubbed("ivs") as (client, stubber):
        adapter = AwsIvs(client)
        stubber.add_response("create_channel", {"channel": {"arn": ARN, "playbackUrl": "p", "ingestEndpoint": "i"}})
        stubber.add_response("list_stream_keys", {"streamKeys": [{"arn": KEY_ARN}]})
        stubber.add_response("get_stream_key", {"streamKey": {"arn": KEY_ARN, "value": "v"}})
        stubber.add_response("put_metadata", {})
        stubber.add_response("get_stream", {"stream": {"viewerCount": 1}})
        stubber.add_response("stop_stream", {})
        stubber.add_response("delete_channel", {})
        adapter.create("ses_1", "brd_1", "BASIC", "LOW")
        adapter.stream_key(ARN)
        adapter.put_metadata(ARN, "{}")
        adapter.viewer_count(ARN)
        adapter.stop_stream(ARN)
        adapter.delete(ARN)


def test_drive_every_call_covers_the_adapter():
    public = {name for name in vars(AwsIvs) if not name.startswith("_") and callable(vars(AwsIvs)[name])}
    assert public == {"create", "delete", "stream_key", "stop_stream", "put_metadata", "viewer_count"}
    drive_every_call()


@pytest.mark.parametrize("operation, call", [
    ("create_channel", lambda a: a.create("ses_1", "brd_1", "BASIC", "LOW")),
    ("list_stream_keys", lambda a: a.stream_key(ARN)),
    ("delete_channel", lambda a: a.delete(ARN)),
    ("put_metadata", lambda a: a.put_metadata(ARN, "{}")),
    ("get_stream", lambda a: a.viewer_count(ARN)),
    ("stop_stream", lambda a: a.stop_stream(ARN)),
])
def test_other_errors_reach_the_caller(ivs, operation, call):
    """AccessDenied (a wrong policy) is not mistaken for a state: it surfaces, and the API answers 500."""
    adapter, stubber = ivs
    stubber.add_client_error(operation, "AccessDeniedException", http_status_code=403)
    with pytest.raises(Exception) as raised:
        call(adapter)
    assert "AccessDenied" in str(raised.value)


def test_a_missing_channel_on_delete_is_already_done(ivs):
    adapter, stubber = ivs
    stubber.add_client_error("delete_channel", "ResourceNotFoundException", http_status_code=404)
    adapter.delete(ARN)
