"""EmbeddedIvs in both modes: without a broadcaster (recorded only, as always), and with `make
run`'s broadcaster (devstack/hls.py), played here by a tiny loopback server that answers as it does."""
import json
import threading
import urllib.error
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chalicelib.adapters.ivs import Delivery, EmbeddedIvs
from chalicelib.settings import Settings
from devstack.stack import free_port
from tests.stubs import stubbed

ARN = "arn:aws:ivs:us-east-1:123456789012:channel/abcdEFGH1234"
MOTO_URL = "https://playback.example.com/us-east-1.123456789012.abcdEFGH1234.m3u8"


class FakeBroadcaster(BaseHTTPRequestHandler):
    answers: dict[tuple[str, str], tuple[int, bytes]] = {}
    received: list[tuple[str, str, str]] = []
    authorizations: list[str | None] = []

    def log_message(self, *args):
        pass

    def _answer(self, method):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        self.received.append((method, self.path, body))
        self.authorizations.append(self.headers.get("Authorization"))
        status, answer = self.answers.get((method, self.path), (404, b""))
        self.send_response(status)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def do_GET(self):
        self._answer("GET")

    def do_POST(self):
        self._answer("POST")


@pytest.fixture
def broadcaster():
    FakeBroadcaster.answers, FakeBroadcaster.received, FakeBroadcaster.authorizations = {}, [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeBroadcaster)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", FakeBroadcaster
    server.shutdown()
    server.server_close()


def created(adapter_for_client):
    with stubbed("ivs") as (client, stubber):
        stubber.add_response("create_channel", {"channel": {"arn": ARN, "playbackUrl": MOTO_URL,
                                                            "ingestEndpoint": "ingest.example.com"}})
        adapter = adapter_for_client(client)
        return adapter, adapter.create("ses_1", "brd_1", "STANDARD", "LOW")


def test_without_a_broadcaster_metadata_is_recorded_and_nothing_is_sent():
    adapter, channel = created(lambda client: EmbeddedIvs("secret", client))
    assert channel.playback_url == MOTO_URL
    assert adapter.put_metadata(ARN, '{"v":1}') == Delivery(True, "recorded_locally")
    assert list(adapter.recorded) == [(ARN, '{"v":1}')]
    assert adapter.viewer_count(ARN) is None


def test_channels_play_from_the_broadcaster(broadcaster):
    url, _ = broadcaster
    _, channel = created(lambda client: EmbeddedIvs("secret", client, hls_url=url))
    assert channel.playback_url == f"{url}channels/abcdEFGH1234/master.m3u8" and channel.arn == ARN


def test_metadata_goes_to_the_broadcaster_and_is_recorded(broadcaster):
    url, fake = broadcaster
    adapter = EmbeddedIvs("secret", hls_url=url)
    route = ("POST", "/channels/abcdEFGH1234/metadata")
    fake.answers[route] = (202, b"queued")
    payload = json.dumps({"v": 1, "title": "Mütze"}, ensure_ascii=False)
    assert adapter.put_metadata(ARN, payload) == Delivery(True)
    assert fake.received == [("POST", route[1], payload)] and list(adapter.recorded) == [(ARN, payload)]
    assert fake.authorizations == ["Bearer secret"]  # the broadcaster takes metadata from the secret's holder only
    fake.answers[route] = (409, b"ChannelNotBroadcasting")
    assert adapter.put_metadata(ARN, payload) == Delivery(False, "channel_not_broadcasting")
    fake.answers[route] = (413, b"too large")  # a payload IVS would refuse is a bug: it surfaces
    with pytest.raises(urllib.error.HTTPError):
        adapter.put_metadata(ARN, payload)
    assert len(adapter.recorded) == 3


def test_viewers_come_from_the_broadcaster(broadcaster):
    url, fake = broadcaster
    adapter = EmbeddedIvs("secret", hls_url=url)
    fake.answers[("GET", "/channels/abcdEFGH1234/viewers")] = (200, b'{"viewers": 2}')
    assert adapter.viewer_count(ARN) == 2
    fake.answers.clear()  # 404: not on air
    assert adapter.viewer_count(ARN) is None


def test_a_broadcaster_that_is_not_running_means_nothing_is_on_air():
    adapter = EmbeddedIvs("secret", hls_url=f"http://127.0.0.1:{free_port()}")
    assert adapter.put_metadata(ARN, "{}") == Delivery(False, "channel_not_broadcasting")
    assert adapter.viewer_count(ARN) is None and list(adapter.recorded) == [(ARN, "{}")]


def test_the_broadcaster_url_is_validated_and_optional():
    assert Settings.from_env({}).embedded_hls_url is None
    assert Settings.from_env({"LIVEDROP_EMBEDDED_HLS_URL": "http://127.0.0.1:8010"}).embedded_hls_url == \
        "http://127.0.0.1:8010"
    with pytest.raises(ValueError, match="LIVEDROP_EMBEDDED_HLS_URL"):
        Settings.from_env({"LIVEDROP_EMBEDDED_HLS_URL": "127.0.0.1:8010"})
