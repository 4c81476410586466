"""The AWS IVS adapter against botocore's Stubber: every request is checked against the IVS
service model, and the error responses IVS documents are handled as designed."""
import pytest
from botocore.exceptions import StubAssertionError

from chalicelib.adapters.ivs import AwsIvs, Delivery
from tests.stubs import raises_client_error, stubbed

ARN = "arn:aws:ivs:us-east-1:123456789012:channel/abcdEFGH1234"
KEY_ARN = "arn:aws:ivs:us-east-1:123456789012:stream-key/ijklMNOP5678"


@pytest.fixture
def ivs():
    with stubbed("ivs") as (client, stubber):
        yield AwsIvs(client), stubber


def test_create_channel_keeps_no_stream_key(ivs):
    adapter, stubber = ivs
    stubber.add_response("create_channel", {
        "channel": {"arn": ARN, "playbackUrl": "https://x.m3u8", "ingestEndpoint": "abc.global-contribute.live-video.net"},
        "streamKey": {"arn": KEY_ARN, "value": "sk_secret", "channelArn": ARN},
    }, {"name": "ses_1", "type": "STANDARD", "latencyMode": "LOW",
        "tags": {"livedrop:session": "ses_1", "livedrop:brand": "brd_1"},
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
    stubber.add_client_error("stop_stream", "ResourceNotFoundException", http_status_code=404,
                             expected_params={"channelArn": ARN})  # the channel was deleted with its session
    assert adapter.stop_stream(ARN) is True
    assert adapter.stop_stream(ARN) is False
    assert adapter.stop_stream(ARN) is False


def test_put_metadata_and_its_errors(ivs):
    adapter, stubber = ivs
    request = {"channelArn": ARN, "metadata": '{"v":1}'}
    stubber.add_response("put_metadata", {}, request)
    stubber.add_client_error("put_metadata", "ChannelNotBroadcasting", http_status_code=404, expected_params=request)
    stubber.add_client_error("put_metadata", "ThrottlingException", http_status_code=429, expected_params=request)
    stubber.add_client_error("put_metadata", "ValidationException", http_status_code=400, expected_params=request)
    assert adapter.put_metadata(ARN, '{"v":1}') == Delivery(True)
    assert adapter.put_metadata(ARN, '{"v":1}') == Delivery(False, "channel_not_broadcasting")
    assert adapter.put_metadata(ARN, '{"v":1}') == Delivery(False, "throttled")
    with raises_client_error("ValidationException"):  # a payload IVS refuses is a bug, not a state
        adapter.put_metadata(ARN, '{"v":1}')


def test_viewer_count(ivs):
    adapter, stubber = ivs
    stubber.add_response("get_stream", {"stream": {"channelArn": ARN, "viewerCount": 1234, "state": "LIVE"}},
                         {"channelArn": ARN})
    stubber.add_client_error("get_stream", "ChannelNotBroadcasting", http_status_code=404,
                             expected_params={"channelArn": ARN})
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


CALLS = [  # (operation, the request it must send, the adapter call that sends it)
    ("create_channel", {"name": "ses_1", "type": "BASIC", "latencyMode": "LOW",
                        "tags": {"livedrop:session": "ses_1", "livedrop:brand": "brd_1"}},
     lambda a: a.create("ses_1", "brd_1", "BASIC", "LOW")),
    ("list_stream_keys", {"channelArn": ARN, "maxResults": 1}, lambda a: a.stream_key(ARN)),
    ("delete_channel", {"arn": ARN}, lambda a: a.delete(ARN)),
    ("put_metadata", {"channelArn": ARN, "metadata": "{}"}, lambda a: a.put_metadata(ARN, "{}")),
    ("get_stream", {"channelArn": ARN}, lambda a: a.viewer_count(ARN)),
    ("stop_stream", {"channelArn": ARN}, lambda a: a.stop_stream(ARN)),
]


@pytest.mark.parametrize("operation, request_sent, call", CALLS, ids=[case[0] for case in CALLS])
def test_other_errors_reach_the_caller(ivs, operation, request_sent, call):
    """AccessDenied (a wrong policy) is not mistaken for a state: it surfaces, and the API answers 500."""
    adapter, stubber = ivs
    stubber.add_client_error(operation, "AccessDeniedException", http_status_code=403, expected_params=request_sent)
    with raises_client_error("AccessDeniedException"):
        call(adapter)


def test_stream_key_errors_after_the_listing_reach_the_caller(ivs):
    adapter, stubber = ivs
    stubber.add_response("list_stream_keys", {"streamKeys": [{"arn": KEY_ARN, "channelArn": ARN}]},
                         {"channelArn": ARN, "maxResults": 1})
    stubber.add_client_error("get_stream_key", "AccessDeniedException", http_status_code=403,
                             expected_params={"arn": KEY_ARN})
    with raises_client_error("AccessDeniedException"):
        adapter.stream_key(ARN)


def test_a_missing_channel_on_delete_is_already_done(ivs):
    adapter, stubber = ivs
    stubber.add_client_error("delete_channel", "ResourceNotFoundException", http_status_code=404,
                             expected_params={"arn": ARN})
    adapter.delete(ARN)


def test_only_the_named_client_error_passes_as_expected(ivs):
    """The error checks above cannot be met by the Stubber refusing a request it did not expect
    (a changed adapter), nor by another error code."""
    adapter, stubber = ivs
    stubber.add_client_error("put_metadata", "ValidationException", http_status_code=400,
                             expected_params={"channelArn": ARN, "metadata": '{"v":2}'})
    with pytest.raises(StubAssertionError), raises_client_error("ValidationException"):
        adapter.put_metadata(ARN, '{"v":1}')
    with pytest.raises(AssertionError, match="ValidationException"), raises_client_error("AccessDeniedException"):
        adapter.put_metadata(ARN, '{"v":2}')
