"""The embedded broadcaster's guards, without ffmpeg: only EmbeddedIvs (the secret) may put metadata on
the air, CORS is for players' GETs only, a bad Content-Length is refused at once, and nothing goes
on air once the broadcaster is stopped."""
import socket
import threading
import time
import urllib.error
from types import SimpleNamespace

import pytest

import devstack.hls as hls
from chalicelib.adapters.ivs import EmbeddedIvs
from devstack.hls import Broadcaster, Channel, follow_sessions, start_broadcaster

SECRET = "s3cret-for-the-tests"
CHANNEL = "guardCHANNEL1"
ARN = f"arn:aws:ivs:us-east-1:123456789012:channel/{CHANNEL}"


@pytest.fixture
def on_air(tmp_path):
    """A broadcaster with one channel on air (a stand-in for its encoder: nothing is encoded)."""
    broadcaster = start_broadcaster(0, tmp_path, SECRET)
    channel = Channel(CHANNEL, tmp_path / CHANNEL, encoder=SimpleNamespace(pid=None))
    broadcaster._channels[CHANNEL] = channel
    try:
        yield broadcaster, channel
    finally:
        channel.state = "ended"  # nothing for stop() to interrupt
        broadcaster.stop()


def exchange(broadcaster, raw: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes, read the answer until the server closes the connection."""
    host, port = broadcaster.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as connection:
        connection.sendall(raw)
        answer = b""
        try:
            while chunk := connection.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass  # closed with part of the request unread: the answer came before
        return answer


def request(broadcaster, method, path, headers=(), body=b"", timeout=5.0):
    """(status, headers as a dict of lower-case names, body) of one request that closes its connection."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", *headers]
    answer = exchange(broadcaster, ("\r\n".join(lines) + "\r\n\r\n").encode() + body, timeout)
    head, _, rest = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    fields = dict((name.lower(), value.strip()) for name, value in (line.split(":", 1) for line in header_lines))
    return int(status_line.split()[1]), fields, rest


def post_metadata(broadcaster, payload: bytes, authorization: str | None = f"Bearer {SECRET}", length=None):
    headers = ["Content-Type: text/plain; charset=utf-8", f"Content-Length: {len(payload) if length is None else length}"]
    if authorization is not None:
        headers.append(f"Authorization: {authorization}")
    return request(broadcaster, "POST", f"/channels/{CHANNEL}/metadata", headers, payload)


@pytest.mark.parametrize("authorization", [
    None, "", "Bearer", "Bearer ", f"Bearer {SECRET}x", f"Bearer {SECRET[:-1]}", SECRET,
    "Basic dXNlcjpwYXNz", f"Bearer  {SECRET}", "Bearer wrong",
])
def test_metadata_without_the_secret_is_refused_and_queues_nothing(on_air, authorization):
    broadcaster, channel = on_air
    status, headers, _ = post_metadata(broadcaster, b'{"v":1,"type":"feature"}', authorization)
    assert status == 401 and "access-control-allow-origin" not in headers
    assert channel.queued == []


def test_metadata_with_the_secret_is_queued_and_answers_no_origin(on_air):
    broadcaster, channel = on_air
    status, headers, _ = post_metadata(broadcaster, b'{"v":1}')
    assert status == 202 and "access-control-allow-origin" not in headers
    assert channel.queued == ['{"v":1}']


def test_embedded_ivs_sends_the_secret(on_air):
    broadcaster, channel = on_air
    assert EmbeddedIvs(SECRET, hls_url=broadcaster.url).put_metadata(ARN, '{"v":1}').delivered
    assert channel.queued == ['{"v":1}']
    with pytest.raises(urllib.error.HTTPError, match="401"):  # another stack's secret: a bug, it surfaces
        EmbeddedIvs("another", hls_url=broadcaster.url).put_metadata(ARN, '{"v":2}')
    assert channel.queued == ['{"v":1}']


def test_cors_is_for_reads_only(on_air):
    broadcaster, _ = on_air
    origin = "Origin: https://evil.example"
    # A page may not POST: its preflight gets no CORS allowance.
    status, headers, _ = request(broadcaster, "OPTIONS", f"/channels/{CHANNEL}/metadata", [
        origin, "Access-Control-Request-Method: POST", "Access-Control-Request-Headers: authorization"])
    assert "access-control-allow-origin" not in headers
    assert "POST" not in headers.get("access-control-allow-methods", "")
    # Players may GET from any page.
    status, headers, _ = request(broadcaster, "OPTIONS", f"/channels/{CHANNEL}/live.m3u8", [
        origin, "Access-Control-Request-Method: GET"])
    assert status == 204 and headers["access-control-allow-origin"] == "*"
    assert headers["access-control-allow-methods"] == "GET, OPTIONS"
    for path in (f"/channels/{CHANNEL}/master.m3u8", f"/channels/{CHANNEL}/viewers", "/channels/nowhere/live.m3u8"):
        status, headers, _ = request(broadcaster, "GET", path, [origin])
        assert headers["access-control-allow-origin"] == "*", path
    status, headers, _ = request(broadcaster, "POST", "/nowhere", [origin, "Content-Length: 0"])
    assert status == 404 and "access-control-allow-origin" not in headers


@pytest.mark.parametrize("length, status", [
    ("-1", 400), ("abc", 400), ("1e3", 400), ("1_0", 400), ("+5", 400), ("0x10", 400), ("", 400),
    ("1025", 413), ("99999999999999999999999", 413), ("0" * 30 + "2000", 413),
])
def test_a_bad_content_length_is_refused_at_once(on_air, length, status):
    broadcaster, channel = on_air
    started = time.monotonic()
    assert post_metadata(broadcaster, b"{}", length=length)[0] == status
    assert time.monotonic() - started < 2 and channel.queued == []


def test_a_missing_or_repeated_content_length_is_refused(on_air):
    broadcaster, channel = on_air
    auth = f"Authorization: Bearer {SECRET}"
    path = f"/channels/{CHANNEL}/metadata"
    assert request(broadcaster, "POST", path, [auth])[0] == 400
    assert request(broadcaster, "POST", path, [auth, "Content-Length: 2", "Content-Length: 2"], b"{}")[0] == 400
    assert request(broadcaster, "POST", path, [auth, "Transfer-Encoding: chunked"], b"2\r\n{}\r\n0\r\n\r\n")[0] == 400
    assert channel.queued == []
    # In bounds, leading zeros and all: taken.
    assert post_metadata(broadcaster, b"{}", length="0002")[0] == 202
    assert post_metadata(broadcaster, b"", length="0")[0] == 202
    assert post_metadata(broadcaster, b"x" * 1024)[0] == 202
    assert channel.queued == ["{}", "", "x" * 1024]


def test_a_body_shorter_than_announced_does_not_hold_the_connection(on_air, monkeypatch):
    broadcaster, channel = on_air
    monkeypatch.setattr(hls._Handler, "timeout", 0.5)
    started = time.monotonic()
    assert exchange(broadcaster, (f"POST /channels/{CHANNEL}/metadata HTTP/1.1\r\nHost: x\r\n"
                                  f"Authorization: Bearer {SECRET}\r\nContent-Length: 10\r\n\r\n{{}}").encode()) == b""
    assert time.monotonic() - started < 3 and channel.queued == []
    assert request(broadcaster, "GET", f"/channels/{CHANNEL}/viewers")[0] == 404  # still serving


def test_a_broadcaster_needs_a_secret(tmp_path):
    with pytest.raises(ValueError, match="secret"):
        Broadcaster(tmp_path, secret="")


def test_nothing_goes_on_air_once_stopped(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr(hls.subprocess, "Popen", lambda *args, **kwargs: started.append(args))
    broadcaster = start_broadcaster(0, tmp_path, SECRET)
    broadcaster.stop()
    assert not broadcaster.go_live("lateCHANNEL", "Too late")
    assert started == [] and broadcaster._channels == {}


def test_the_follower_stops_between_pages():
    """Stopped while it lists the live sessions: it puts nothing on air (and ends nothing), and returns."""
    stop, calls = threading.Event(), []
    session = SimpleNamespace(id="ses_1", title="Show", channel=SimpleNamespace(arn=ARN))

    def list_public(status, limit, cursor):
        stop.set()  # `make run` stopping while the first page is read
        return [session], "more"

    broadcaster = SimpleNamespace(go_live=lambda *args: calls.append(args), end=lambda *args: calls.append(args))
    services = SimpleNamespace(sessions=SimpleNamespace(list_public=list_public))
    thread = follow_sessions(broadcaster, lambda: services, stop, every=0.05)
    thread.join(2)
    assert not thread.is_alive() and calls == []
