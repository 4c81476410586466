"""The embedded broadcaster of `make run`: a local live HLS stream per channel that is on air.

IVS's part, played locally: ffmpeg encodes a test pattern with the session title and a clock; a
publisher thread per channel takes each new segment, puts the timed metadata queued since the last
one into it as ID3 (devstack/ts_id3.py, as IVS carries PutMetadata), and only then publishes it.
A loopback HTTP server serves the playlists and segments to real players, takes PutMetadata from
`EmbeddedIvs` (chalicelib/adapters/ivs.py), counts viewers, and serves each show's recording.

    broadcaster = start_broadcaster(port, root_dir, secret)  # broadcaster.url; broadcaster.stop()
    follower = follow_sessions(broadcaster, services, stop_event)  # on air while a session is live
    stop_event.set(); follower.join(5); broadcaster.stop()

Players may read from any origin (GET, with CORS); only the holder of the secret (EmbeddedIvs,
LIVEDROP_EMBEDDED_SECRET) may POST metadata: a web page can not put a product card on the air.
"""
from __future__ import annotations

import atexit
import hmac
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from chalicelib.adapters.ivs import channel_id_of
from chalicelib.observability import logger
from devstack.stack import LOOPBACK
from devstack.ts_id3 import id3_tag, inject

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
TITLE_CHARS = 40  # what fits across the picture
MAX_ENCODERS = 4
LIVE_WINDOW = 6  # segments in the live playlist
VIEWER_SECONDS = 10  # a player that fetched the live playlist this recently is watching
POLL_SECONDS = 0.15
MAX_METADATA_BYTES = 1024  # IVS's PutMetadata limit
PLAYLIST = "application/vnd.apple.mpegurl"
CHANNEL_ID = r"[A-Za-z0-9_-]{1,128}"
SEGMENT = r"seg\d{5,}\.ts"
ROUTES = [(method, re.compile(pattern), name) for method, pattern, name in (
    ("GET", rf"/channels/({CHANNEL_ID})/master\.m3u8", "master"),
    ("GET", rf"/channels/({CHANNEL_ID})/live\.m3u8", "live"),
    ("GET", rf"/channels/({CHANNEL_ID})/({SEGMENT})", "segment"),
    ("POST", rf"/channels/({CHANNEL_ID})/metadata", "metadata"),
    ("GET", rf"/channels/({CHANNEL_ID})/viewers", "viewers"),
    ("GET", rf"/recordings/({CHANNEL_ID})/media/hls/master\.m3u8", "recording"),
    ("GET", rf"/recordings/({CHANNEL_ID})/media/hls/({SEGMENT})", "recorded_segment"),
)]


@dataclass
class Channel:
    id: str
    directory: Path
    encoder: subprocess.Popen
    state: str = "live"  # live -> ending -> ended (the recording is served)
    segments: list[tuple[str, float]] = field(default_factory=list)  # published: (name, seconds)
    queued: list[str] = field(default_factory=list)  # metadata for the next published segment
    continuity: int = 0  # the metadata PID's, carried from segment to segment
    target_duration: int = 1
    viewers: dict[str, float] = field(default_factory=dict)  # token -> last live playlist fetch
    lock: threading.Lock = field(default_factory=threading.Lock)
    publisher: threading.Thread | None = None

    @property
    def encoder_dir(self) -> Path:
        return self.directory / "encoder"

    @property
    def public_dir(self) -> Path:
        return self.directory / "public"


def encoder_command(title_file: str, font: Path | None) -> list[str]:
    """ffmpeg, run in the channel's directory (relative paths: nothing to escape in the filters)."""
    video = "testsrc2=size=640x360:rate=15"
    if font is not None:
        # The title comes from a file without expansion (any characters are safe); the clock is expanded.
        video += (f",drawtext=fontfile={font}:textfile={title_file}:expansion=none:fontsize=28:fontcolor=white"
                  f":box=1:boxcolor=black@0.6:boxborderw=8:x=(w-tw)/2:y=24"
                  f",drawtext=fontfile={font}:text=%{{localtime}}:fontsize=24:fontcolor=white"
                  f":box=1:boxcolor=black@0.6:boxborderw=6:x=(w-tw)/2:y=h-th-24")
    return ["ffmpeg", "-hide_banner", "-loglevel", "warning", "-nostdin",
            "-re", "-f", "lavfi", "-i", video,
            "-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
            "-af", "volume=0.05",
            "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-profile:v", "baseline",
            "-pix_fmt", "yuv420p", "-g", "15", "-keyint_min", "15", "-sc_threshold", "0",  # a keyframe each second
            "-c:a", "aac", "-b:a", "64k",
            "-f", "hls", "-hls_time", "1", "-hls_playlist_type", "event",
            "-hls_segment_filename", "encoder/seg%05d.ts", "encoder/index.m3u8"]


def encoded_segments(playlist: str) -> list[tuple[str, float]]:
    """(segment, seconds) in ffmpeg's playlist, in order."""
    segments, duration = [], None
    for line in playlist.splitlines():
        if line.startswith("#EXTINF:"):
            duration = float(line[len("#EXTINF:"):].split(",")[0])
        elif line and not line.startswith("#") and duration is not None:
            segments.append((line.strip(), duration))
            duration = None
    return segments


def media_playlist(segments: list[tuple[str, float]], first: int, target: int, ended: bool) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{target}", f"#EXT-X-MEDIA-SEQUENCE:{first}"]
    if ended:
        lines.append("#EXT-X-PLAYLIST-TYPE:VOD")
    for name, seconds in segments:
        lines += [f"#EXTINF:{seconds:.6f},", name]
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


class Broadcaster:
    def __init__(self, root_dir: Path, port: int = 0, *, secret: str) -> None:
        if not secret:
            raise ValueError("the broadcaster needs a secret: the one EmbeddedIvs sends (LIVEDROP_EMBEDDED_SECRET)")
        self._authorization = f"Bearer {secret}".encode()
        self.root_dir = Path(root_dir)
        self.root_dir.mkdir(parents=True, exist_ok=True)
        self.font = FONT if FONT.exists() else None
        self._channels: dict[str, Channel] = {}
        self._lock = threading.Lock()
        self._closed = False  # stopped: nothing goes on air any more
        self._refused: set[str] = set()  # logged once, not on every try
        self._server = ThreadingHTTPServer((LOOPBACK, port), _Handler)
        self._server.daemon_threads = True
        self._server.broadcaster = self
        self.url = f"http://{LOOPBACK}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="hls-server", daemon=True)  # stop() returns within 0.1 s

    def start(self) -> "Broadcaster":
        atexit.register(self.stop)
        self._thread.start()
        return self

    # --- on air ----------------------------------------------------------------------------------

    def go_live(self, channel_id: str, title: str) -> bool:
        """Start the channel's encoder. False (logged once) if it can not start now; always False
        once the broadcaster is stopped (no encoder starts after `stop()` took the channels)."""
        with self._lock:
            if self._closed:
                return False
            current = self._channels.get(channel_id)
            if current is not None and current.state != "ended":
                return True
            if sum(c.state != "ended" for c in self._channels.values()) >= MAX_ENCODERS:
                return self._refuse(channel_id, f"at most {MAX_ENCODERS} channels are on air at once")
            directory = self.root_dir / channel_id
            shutil.rmtree(directory, ignore_errors=True)  # a new stream on the channel starts a new recording
            (directory / "encoder").mkdir(parents=True)
            (directory / "public").mkdir()
            short = title if len(title) <= TITLE_CHARS else title[:TITLE_CHARS - 1] + "…"
            (directory / "title.txt").write_text(short, encoding="utf-8")
            try:
                with open(directory / "encoder.log", "ab") as log:
                    encoder = subprocess.Popen(
                        encoder_command("title.txt", self.font), cwd=directory, stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL, stderr=log,
                        start_new_session=True)  # its own process group: stopped with everything it started
            except OSError as error:
                return self._refuse(channel_id, f"ffmpeg did not start: {error}")
            channel = Channel(channel_id, directory, encoder)
            channel.publisher = threading.Thread(target=self._publish, args=(channel,), name=f"hls-{channel_id}",
                                                 daemon=True)
            self._channels[channel_id] = channel
            self._refused.discard(channel_id)
            channel.publisher.start()  # under the lock: `stop()` may join any publisher it finds
        logger.info("embedded broadcaster: on air", extra={"channel": channel_id})
        return True

    def _refuse(self, channel_id: str, reason: str) -> bool:
        if channel_id not in self._refused:
            self._refused.add(channel_id)
            logger.warning("embedded broadcaster: not going on air", extra={"channel": channel_id, "reason": reason})
        return False

    def end(self, channel_id: str) -> None:
        """Stop the encoder cleanly (its last segment is published) and finalise the recording."""
        with self._lock:
            channel = self._channels.get(channel_id)
            if channel is None or channel.state != "live":
                return
            channel.state = "ending"
        _interrupt(channel.encoder)
        assert channel.publisher is not None
        channel.publisher.join()
        logger.info("embedded broadcaster: off air", extra={"channel": channel_id,
                                                            "recordedSegments": len(channel.segments)})

    def _publish(self, channel: Channel) -> None:
        """Publish ffmpeg's segments as they come, each with the metadata queued before it."""
        while True:
            exited = channel.encoder.poll() is not None
            try:
                self._publish_new(channel)
            except Exception:
                logger.exception("embedded broadcaster: publishing failed", extra={"channel": channel.id})
            if exited:
                break
            time.sleep(POLL_SECONDS)
        if channel.state == "live":
            logger.error("embedded broadcaster: the encoder stopped on its own; see its log",
                         extra={"channel": channel.id, "log": str(channel.directory / "encoder.log")})
        channel.state = "ended"

    def _publish_new(self, channel: Channel) -> None:
        try:
            encoded = encoded_segments((channel.encoder_dir / "index.m3u8").read_text())
        except FileNotFoundError:
            return
        for name, seconds in encoded[len(channel.segments):]:
            segment = (channel.encoder_dir / name).read_bytes()
            # Claim and publish under the lock: a payload is carried by the first segment published
            # after it was queued, and by that one only.
            with channel.lock:
                payloads, channel.queued = channel.queued, []
                try:
                    segment, channel.continuity = inject(segment, [id3_tag(p) for p in payloads], channel.continuity)
                except ValueError:
                    logger.exception("embedded broadcaster: segment published without its metadata",
                                     extra={"channel": channel.id, "segment": name, "lost": len(payloads)})
                temporary = channel.public_dir / (name + ".tmp")
                temporary.write_bytes(segment)
                temporary.rename(channel.public_dir / name)
                channel.target_duration = max(channel.target_duration, round(seconds))
                channel.segments.append((name, seconds))

    # --- what the HTTP routes ask ----------------------------------------------------------------

    def playing(self, channel_id: str) -> Channel | None:
        """The channel, if it is on air and has something to play."""
        channel = self._channels.get(channel_id)
        return channel if channel is not None and channel.state == "live" and channel.segments else None

    def queue_metadata(self, channel_id: str, payload: str) -> bool:
        channel = self._channels.get(channel_id)
        if channel is None:
            return False
        with channel.lock:
            if channel.state != "live":
                return False
            channel.queued.append(payload)
            return True

    def live_playlist(self, channel_id: str, viewer: str | None) -> str | None:
        channel = self.playing(channel_id)
        if channel is None:
            return None
        with channel.lock:
            if viewer:
                channel.viewers[viewer] = time.monotonic()
            first = max(0, len(channel.segments) - LIVE_WINDOW)
            return media_playlist(channel.segments[first:], first, channel.target_duration, ended=False)

    def viewers(self, channel_id: str) -> int | None:
        channel = self.playing(channel_id)
        if channel is None:
            return None
        with channel.lock:
            since = time.monotonic() - VIEWER_SECONDS
            channel.viewers = {token: at for token, at in channel.viewers.items() if at >= since}
            return len(channel.viewers)

    def recording(self, channel_id: str) -> str | None:
        channel = self._channels.get(channel_id)
        if channel is None or channel.state != "ended" or not channel.segments:
            return None
        return media_playlist(channel.segments, 0, channel.target_duration, ended=True)

    def segment(self, channel_id: str, name: str) -> Path | None:
        channel = self._channels.get(channel_id)
        if channel is None or name not in {published for published, _ in channel.segments}:
            return None
        return channel.public_dir / name

    def authorized(self, authorization: str | None) -> bool:
        """Is this `Authorization` header the one EmbeddedIvs sends? (Compared in constant time.)"""
        return authorization is not None and hmac.compare_digest(authorization.encode(), self._authorization)

    def stop(self) -> None:
        """End every show and stop serving: no encoder outlives the broadcaster. Closed first, under
        the lock that `go_live` holds while starting one: every encoder there will be is in the list."""
        with self._lock:
            self._closed = True
            channels = list(self._channels.values())
        for channel in channels:
            self.end(channel.id)
            if channel.publisher is not None:
                channel.publisher.join()  # returns once the encoder exited (also one `end` elsewhere stops)
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()


def _interrupt(encoder: subprocess.Popen) -> None:
    """SIGINT lets ffmpeg write its last segment; a kill if it does not stop in time."""
    try:
        os.killpg(encoder.pid, signal.SIGINT)
        encoder.wait(timeout=10)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(encoder.pid, signal.SIGKILL)
        encoder.wait()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # players keep their connection
    timeout = 30  # seconds a connection may stay silent (a body shorter than announced included)

    def log_message(self, format: str, *args: object) -> None:
        pass  # a player fetches several times a second: no line per request

    def _send(self, status: int, body: bytes = b"", content_type: str = "text/plain; charset=utf-8",
              cache: str = "no-cache") -> None:
        self.send_response(status)
        if self.command == "GET":
            self.send_header("Access-Control-Allow-Origin", "*")  # players on any page; never on a POST
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # a player that moved on (a seek, a closed tab) is no error

    def do_OPTIONS(self) -> None:
        """A preflight is allowed for reads only: no page may POST metadata (nor send the secret)."""
        self.send_response(204)
        if self.headers.get("Access-Control-Request-Method", "GET") == "GET":
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Access-Control-Allow-Methods", "GET, OPTIONS")
            self.send_header("Access-Control-Allow-Headers", "*")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        for route_method, pattern, name in ROUTES:
            match = pattern.fullmatch(url.path)
            if match and route_method == method:
                getattr(self, "_" + name)(*match.groups(), query=parse_qs(url.query))
                return
        self._send(404, b"not found\n")

    @property
    def broadcaster(self) -> Broadcaster:
        return self.server.broadcaster  # type: ignore[attr-defined,no-any-return]

    def _master(self, channel_id: str, query: dict[str, list[str]]) -> None:
        if self.broadcaster.playing(channel_id) is None:
            self._send(404, b"channel is not broadcasting\n")
            return
        # One token per master fetch, that is per player: its live playlist fetches count it as a viewer.
        variant = f"live.m3u8?viewer={secrets.token_urlsafe(9)}"
        body = ("#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n"
                '#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360,FRAME-RATE=15.000,'
                'CODECS="avc1.42c01e,mp4a.40.2"\n' + variant + "\n")
        self._send(200, body.encode(), PLAYLIST)

    def _live(self, channel_id: str, query: dict[str, list[str]]) -> None:
        playlist = self.broadcaster.live_playlist(channel_id, (query.get("viewer") or [None])[0])
        if playlist is None:
            self._send(404, b"channel is not broadcasting\n")
        else:
            self._send(200, playlist.encode(), PLAYLIST)

    def _segment(self, channel_id: str, name: str, query: dict[str, list[str]]) -> None:
        path = self.broadcaster.segment(channel_id, name)
        if path is None:
            self._send(404, b"no such segment\n")
        else:
            self._send(200, path.read_bytes(), "video/mp2t", cache="max-age=3600")

    _recorded_segment = _segment

    def _metadata(self, channel_id: str, query: dict[str, list[str]]) -> None:
        # Until the body is read, a refusal closes the connection (what is left of it is not a request).
        if not self.broadcaster.authorized(self.headers.get("Authorization")):
            self.close_connection = True
            self._send(401, b"metadata needs the broadcaster's secret\n")
            return
        lengths = self.headers.get_all("Content-Length") or []
        digits = lengths[0].strip() if len(lengths) == 1 else ""
        if not re.fullmatch(r"[0-9]+", digits):  # missing, repeated, negative or not a number
            self.close_connection = True
            self._send(400, b"metadata needs one Content-Length, a number of bytes\n")
            return
        digits = digits.lstrip("0") or "0"
        length = int(digits) if len(digits) <= 5 else MAX_METADATA_BYTES + 1
        if length > MAX_METADATA_BYTES:
            self.close_connection = True
            self._send(413, b"metadata is limited to 1 KB\n")
            return
        try:
            payload = self.rfile.read(length).decode("utf-8")
        except UnicodeDecodeError:
            self._send(400, b"metadata must be UTF-8\n")
            return
        if self.broadcaster.queue_metadata(channel_id, payload):
            self._send(202, b"queued for the next segment\n")
        else:
            self._send(409, b"ChannelNotBroadcasting\n")

    def _viewers(self, channel_id: str, query: dict[str, list[str]]) -> None:
        count = self.broadcaster.viewers(channel_id)
        if count is None:
            self._send(404, b"channel is not broadcasting\n")
        else:
            self._send(200, json.dumps({"viewers": count}).encode(), "application/json")

    def _recording(self, channel_id: str, query: dict[str, list[str]]) -> None:
        playlist = self.broadcaster.recording(channel_id)
        if playlist is None:
            self._send(404, b"no recording\n")
        else:
            self._send(200, playlist.encode(), PLAYLIST)


def start_broadcaster(port: int, root_dir: Path, secret: str) -> Broadcaster:
    """The broadcaster, serving on 127.0.0.1:`port` (0: a free one); `.url`, `.stop()`. Metadata is
    taken only with `Authorization: Bearer <secret>`: EmbeddedIvs's LIVEDROP_EMBEDDED_SECRET."""
    return Broadcaster(root_dir, port, secret=secret).start()


def follow_sessions(broadcaster: Broadcaster, services_factory: Callable[[], Any], stop_event: threading.Event,
                    every: float = 1.0) -> threading.Thread:
    """What IVS does around a show, locally: a live session's channel goes on air; when the session
    is no longer live, the channel goes off air and the Recording End event sets its replay URL
    (LIVEDROP_REPLAY_BASE_URL = `<broadcaster.url>/recordings` points it at the recording).

    Returns the follower thread: set `stop_event`, join it (with a timeout), then `broadcaster.stop()`."""
    from chalicelib.domain.sessions import SessionStatus

    started: dict[str, str] = {}  # channel id -> session id; an encoder that dies is not restarted

    def follow_once() -> None:
        # Once stopped, it returns at the next step (one page or one channel): the caller's join is short.
        services = services_factory()
        live, cursor = {}, None
        while not stop_event.is_set():
            page, cursor = services.sessions.list_public(SessionStatus.LIVE, 100, cursor)
            live.update({channel_id_of(session.channel.arn): session for session in page})
            if not cursor:
                break
        for channel_id, session in live.items():
            if stop_event.is_set():
                return
            if channel_id not in started and broadcaster.go_live(channel_id, session.title):
                started[channel_id] = session.id
        for channel_id, session_id in list(started.items()):
            if stop_event.is_set():
                return
            if channel_id not in live:
                broadcaster.end(channel_id)
                services.live.on_recording_end(session_id, bucket="embedded", key_prefix=channel_id)
                del started[channel_id]

    def follow() -> None:
        while not stop_event.is_set():
            try:
                follow_once()
            except Exception:
                logger.exception("embedded broadcaster: following the live sessions failed; trying again")
            stop_event.wait(every)

    thread = threading.Thread(target=follow, name="hls-follower", daemon=True)
    thread.start()
    return thread
