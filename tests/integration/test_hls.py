"""The embedded broadcaster (devstack/hls.py) with real ffmpeg: PutMetadata in the next segment,
viewers, the recording, and the follower that puts live sessions on air."""
import json
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from types import SimpleNamespace

import pytest

from devstack.hls import MAX_ENCODERS, follow_sessions, start_broadcaster
from devstack.ts_id3 import id3_tag, inject

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
                                  reason="needs ffmpeg")


SECRET = "s3cret-for-the-tests"
AUTH = {"Authorization": f"Bearer {SECRET}"}


def fetch(url, data=None, headers=AUTH):
    """(status, body, content type), also for error statuses; a POST carries the secret unless told."""
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET",
                                     headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read(), response.headers.get("Content-Type")
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers.get("Content-Type")


def until(condition, timeout=60.0):
    """`condition()` once it is true. The bound is against hanging, not a speed claim: ffmpeg
    starting and writing its next segment on a loaded 2-core CI machine may take several seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def segments_of(playlist: bytes) -> list[str]:
    return [line for line in playlist.decode().splitlines() if line and not line.startswith("#")]


def txxx_values(segment: bytes, pid: int = 0x0102) -> list[str]:
    """The TXXX values of the ID3 tags carried on `pid`: a reader of our own, not the writer's."""
    pes_list: list[bytearray] = []
    for offset in range(0, len(segment), 188):
        packet = segment[offset:offset + 188]
        if ((packet[1] & 0x1F) << 8 | packet[2]) != pid:
            continue
        start = 5 + packet[4] if packet[3] & 0x20 else 4
        if packet[1] & 0x40:
            pes_list.append(bytearray())
        pes_list[-1] += packet[start:]
    values = []
    for pes in pes_list:
        tag = bytes(pes[9 + pes[8]:])
        frame = tag[10:]
        size = int.from_bytes(frame[4:8], "big")  # small sizes: syncsafe and plain agree
        if frame[:4] == b"TXXX":
            body = frame[10:10 + size]
            values.append(body[body.index(b"\x00", 1) + 1:].decode())
    return values


@needs_ffmpeg
def test_live_stream_metadata_viewers_and_recording(tmp_path):
    broadcaster = start_broadcaster(0, tmp_path, SECRET)
    channel = "itgCHANNEL01"
    base = f"{broadcaster.url}/channels/{channel}"
    try:
        assert fetch(base + "/master.m3u8")[0] == 404  # not on air
        assert fetch(base + "/metadata", b"{}")[0] == 409
        assert fetch(base + "/metadata", b"{}", headers={})[0] == 401  # the secret comes first
        assert broadcaster.go_live(channel, "Integration show")
        status, master, content_type = until(lambda: (r := fetch(base + "/master.m3u8"))[0] == 200 and r)
        assert content_type == "application/vnd.apple.mpegurl"

        # Two players: two master fetches, two tokens, two viewers.
        variants = [segments_of(master)[0], segments_of(fetch(base + "/master.m3u8")[1])[0]]
        assert len(set(variants)) == 2 and all(v.startswith("live.m3u8?viewer=") for v in variants)
        for variant in variants:
            assert fetch(f"{base}/{variant}")[0] == 200
        assert json.loads(fetch(base + "/viewers")[1]) == {"viewers": 2}

        # POST right after a segment is published: the next one must carry the payload.
        last = segments_of(fetch(f"{base}/{variants[0]}")[1])[-1]
        last = until(lambda: (newest := segments_of(fetch(f"{base}/{variants[0]}")[1])[-1]) != last and newest)
        payload = json.dumps({"v": 1, "type": "feature", "product": {"title": "Mütze"}}, ensure_ascii=False)
        assert fetch(base + "/metadata", payload.encode())[0] == 202
        assert fetch(base + "/metadata", b"x" * 1025)[0] == 413
        following = until(lambda: [s for s in segments_of(fetch(f"{base}/{variants[0]}")[1]) if s > last])[0]
        assert txxx_values(fetch(f"{base}/{last}")[1]) == []
        carrier = fetch(f"{base}/{following}")
        assert carrier[0] == 200 and carrier[2] == "video/mp2t"
        assert txxx_values(carrier[1]) == [payload]

        broadcaster.end(channel)
        assert fetch(f"{base}/{variants[0]}")[0] == 404 and fetch(base + "/viewers")[0] == 404
        assert fetch(base + "/metadata", b"{}")[0] == 409
        status, recording, _ = fetch(f"{broadcaster.url}/recordings/{channel}/media/hls/master.m3u8")
        assert status == 200 and b"#EXT-X-PLAYLIST-TYPE:VOD" in recording
        assert recording.decode().rstrip().endswith("#EXT-X-ENDLIST")
        recorded = segments_of(recording)
        assert recorded[0] == "seg00000.ts" and following in recorded  # from the start, all of it
        found = [fetch(f"{broadcaster.url}/recordings/{channel}/media/hls/{name}") for name in recorded]
        assert all(status == 200 and body[:1] == b"\x47" for status, body, _ in found)
        assert sum(txxx_values(body) == [payload] for _, body, _ in found) == 1  # carried exactly once
    finally:
        broadcaster.stop()


@needs_ffmpeg
def test_at_most_four_encoders_and_none_outlives_stop(tmp_path):
    broadcaster = start_broadcaster(0, tmp_path, SECRET)
    try:
        assert all(broadcaster.go_live(f"chan{i}", f"Show {i}") for i in range(MAX_ENCODERS))
        assert not broadcaster.go_live("onetoomany", "Show")
        encoders = [channel.encoder for channel in broadcaster._channels.values()]
        assert len(encoders) == MAX_ENCODERS and all(e.poll() is None for e in encoders)
    finally:
        broadcaster.stop()
    assert all(e.poll() is not None for e in encoders)
    with pytest.raises(OSError):
        urllib.request.urlopen(broadcaster.url + "/channels/chan0/viewers", timeout=1)


class FakeBroadcaster:
    def __init__(self):
        self.calls = []
        self.ended = threading.Event()

    def go_live(self, channel_id, title):
        self.calls.append(("go_live", channel_id, title))
        return True

    def end(self, channel_id):
        self.calls.append(("end", channel_id))


def test_the_follower_puts_live_sessions_on_air_and_ends_them_with_their_recording():
    live = [SimpleNamespace(id=f"ses_{i}", title=f"Show {i}", channel=SimpleNamespace(
        arn=f"arn:aws:ivs:us-east-1:123456789012:channel/chan{i}")) for i in range(3)]
    recordings = []

    ticks = threading.Semaphore(0)  # one release per tick of the follower (its last page read)

    def list_public(status, limit, cursor):  # two pages
        start = int(cursor or 0)
        if start + 2 >= len(live):
            ticks.release()
        return live[start:start + 2], (str(start + 2) if start + 2 < len(live) else None)

    def on_recording_end(channel_name, bucket, key_prefix):
        recordings.append((channel_name, bucket, key_prefix))
        broadcaster.ended.set()

    services = SimpleNamespace(sessions=SimpleNamespace(list_public=list_public),
                               live=SimpleNamespace(on_recording_end=on_recording_end))
    broadcaster, stop = FakeBroadcaster(), threading.Event()
    thread = follow_sessions(broadcaster, lambda: services, stop, every=0.05)
    try:
        until(lambda: len(broadcaster.calls) == 3)
        assert sorted(broadcaster.calls) == [("go_live", f"chan{i}", f"Show {i}") for i in range(3)]
        while ticks.acquire(blocking=False):  # the ticks seen so far
            pass
        assert ticks.acquire(timeout=5) and ticks.acquire(timeout=5)  # a whole tick more, counted not timed
        assert len(broadcaster.calls) == 3  # on air once, not on every tick
        del live[1]
        assert broadcaster.ended.wait(5)
        assert broadcaster.calls[3:] == [("end", "chan1")]
        assert recordings == [("ses_1", "embedded", "chan1")]
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()


@needs_ffmpeg
def test_ffprobe_reads_the_payload_from_a_real_segment(tmp_path):
    source = tmp_path / "in.ts"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=15", "-f", "lavfi",
                    "-i", "sine", "-t", "2", "-c:v", "libx264", "-preset", "ultrafast", "-g", "15", "-c:a", "aac",
                    "-f", "mpegts", str(source)], check=True, timeout=30)
    payload = json.dumps({"v": 1, "type": "feature", "product": {"title": "Mütze"}}, ensure_ascii=False)
    out, _ = inject(source.read_bytes(), [id3_tag(payload)], 0)
    (tmp_path / "out.ts").write_bytes(out)

    def probe(*args):
        return json.loads(subprocess.run(["ffprobe", "-v", "error", "-of", "json", *args, str(tmp_path / "out.ts")],
                                         check=True, capture_output=True, text=True, timeout=30).stdout)

    streams = probe("-show_streams")["streams"]
    assert [s["codec_name"] for s in streams] == ["h264", "aac", "timed_id3"]
    first_video_pts = probe("-select_streams", "v", "-show_packets", "-read_intervals", "%+#1")["packets"][0]["pts"]
    packets = probe("-select_streams", "d", "-show_packets", "-show_data")["packets"]
    assert len(packets) == 1 and packets[0]["pts"] == first_video_pts  # the payload, no keep-alive
    data = bytes.fromhex("".join(line.split(":", 1)[1].split("  ")[0].replace(" ", "")
                                 for line in packets[0]["data"].splitlines() if line.strip()))
    # ffmpeg's demuxer takes the first 5 bytes of every stream_type 0x15 PES for a "metadata access
    # unit header" that HLS (Apple, hls.js, the IVS player) does not use; the rest is the tag.
    assert data == id3_tag(payload)[5:]
