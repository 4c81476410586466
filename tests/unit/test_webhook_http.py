"""The webhook sender (chalicelib/adapters/webhook_http.py) against real servers on 127.0.0.1.

Names like "receiver.test" have no DNS: the tests hand the sender a resolver, so a request that
arrives proves the connection went to the address the sender checked, not to the name again.
Servers that must not answer block on an Event the fixture sets at teardown (no sleeping).
"""
from __future__ import annotations

import datetime
import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks import Webhook

from chalicelib.adapters import webhook_http
from chalicelib.adapters.webhook_http import HttpWebhookSender
from chalicelib.domain import webhooks as wh

BODY = json.dumps({"type": "order.paid", "timestamp": "2026-11-22T20:00:00.000Z", "data": {"id": "ord_1"}},
                  separators=(",", ":"))


class Resolver:
    """Answers each lookup with the next list of addresses (the last one repeats); records lookups."""

    def __init__(self, *rounds: list[str] | None) -> None:
        self.rounds = rounds
        self.calls: list[str] = []

    def __call__(self, host, port, family=0, type=0, proto=0, flags=0):
        self.calls.append(host)
        ips = self.rounds[min(len(self.calls), len(self.rounds)) - 1]
        if ips is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (ip, port, 0, 0)) if ":" in ip
                else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in ips]


class Receiver:
    """An HTTP server on 127.0.0.1 that records each request and answers as `behave` says:
    (status, headers, body), or a callable that writes the answer itself."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[dict] = []
        self.behave: object = (200, {}, b"ok")
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers.items()),
                                          "body": body})
                try:
                    if callable(receiver.behave):
                        receiver.behave(self)
                    else:
                        status, headers, answer = receiver.behave
                        self.send_response(status)
                        for name, value in headers.items():
                            self.send_header(name, value)
                        self.send_header("Content-Length", str(len(answer)))
                        self.end_headers()
                        self.wfile.write(answer)
                except OSError:
                    pass  # the sender hung up, as it should at its deadline

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, host="receiver.test", path="/hooks/livedrop?brand=1", scheme="http"):
        return f"{scheme}://{host}:{self.port}{path}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def no_sockets(monkeypatch):
    """Any socket opened by the sender fails the test: a refusal must not connect at all."""
    def opened(*args, **kwargs):
        raise AssertionError("the sender opened a socket")
    monkeypatch.setattr(webhook_http.socket, "socket", opened)


def local_sender(*rounds, timeout=5.0, **kwargs):
    resolver = Resolver(*(rounds or (["127.0.0.1"],)))
    return HttpWebhookSender(local_mode=True, timeout=timeout, resolve=resolver, **kwargs), resolver


def signed(body=BODY):
    secret = wh.new_secret()
    return secret, wh.headers(wh.new_ping_event_id(), int(time.time()), body, [secret])


# --- answers ----------------------------------------------------------------------------------------------


def test_a_2xx_is_success_and_the_request_is_the_signed_post_a_receiver_can_verify(receiver):
    sender, resolver = local_sender()
    secret, headers = signed()
    result = sender.send(receiver.url(), {**headers, "Host": "evil.example", "Content-Length": "1"}, BODY.encode())
    assert (result.status, result.error, result.retry_after) == (200, None, None)
    assert result.duration_ms >= 0 and resolver.calls == ["receiver.test"]
    [request] = receiver.requests
    assert request["path"] == "/hooks/livedrop?brand=1"
    assert request["headers"]["Host"] == f"receiver.test:{receiver.port}"  # the URL's, never the caller's
    assert request["headers"]["Content-Length"] == str(len(BODY.encode()))
    assert request["headers"]["user-agent"] == "Livedrop-Webhooks/1"
    assert request["body"] == BODY.encode()
    assert Webhook(secret).verify(request["body"], request["headers"]) == json.loads(BODY)


@pytest.mark.parametrize("status", [201, 204])
def test_other_2xx(receiver, status):
    receiver.behave = (status, {}, b"")
    assert local_sender()[0].send(receiver.url(), signed()[1], b"{}").status == status


def test_a_redirect_is_its_status_and_is_not_followed(receiver):
    receiver.behave = (302, {"Location": receiver.url(path="/elsewhere")}, b"")
    result = local_sender()[0].send(receiver.url(), signed()[1], b"{}")
    assert (result.status, result.error) == (302, None)
    assert [r["path"] for r in receiver.requests] == ["/hooks/livedrop?brand=1"]


@pytest.mark.parametrize("status, retry_after", [(410, None), (429, "7"), (503, "Sun, 22 Nov 2026 20:01:30 GMT"),
                                                 (500, None)])
def test_the_status_and_retry_after_come_back_as_sent(receiver, status, retry_after):
    receiver.behave = (status, {"Retry-After": retry_after} if retry_after else {}, b"no")
    result = local_sender()[0].send(receiver.url(), signed()[1], b"{}")
    assert (result.status, result.retry_after, result.error) == (status, retry_after, None)


def test_only_the_start_of_a_long_answer_is_read(receiver):
    def endless(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(10 ** 9))
        handler.end_headers()
        handler.wfile.write(b"x" * 4096)
        handler.wfile.flush()
        receiver.release.wait()  # the rest never comes: reading it all would run to the deadline

    receiver.behave = endless
    result = local_sender(timeout=10.0)[0].send(receiver.url(), signed()[1], b"{}")
    assert (result.status, result.error) == (200, None)
    assert result.duration_ms < 5000


# --- deadlines --------------------------------------------------------------------------------------------


def test_a_receiver_that_never_answers_times_out_within_the_bound(receiver):
    receiver.behave = lambda handler: receiver.release.wait()
    started = time.monotonic()
    result = local_sender(timeout=0.5)[0].send(receiver.url(), signed()[1], b"{}")
    elapsed = time.monotonic() - started
    assert result.status is None and result.error == "timed out after 0.5 s"
    # Bounds far from 0.5 s on purpose (a loaded CI machine): what fails is a sender with no deadline.
    assert 0.45 <= elapsed <= 5.0 and 450 <= result.duration_ms <= 5000
    assert len(receiver.requests) == 1


def test_an_answer_dripped_a_byte_at_a_time_is_cut_at_the_deadline(receiver):
    def drip(handler):
        handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
        # Pacing of the misbehaving server itself (not a wait in the test): a byte every 50 ms
        # keeps any per-read timeout from ever firing. It stops after 10 s, so that a sender
        # without a deadline fails this test rather than hanging it.
        for _ in range(200):
            if receiver.release.wait(0.05):
                return
            handler.wfile.write(b"X")
            handler.wfile.flush()

    receiver.behave = drip
    started = time.monotonic()
    result = local_sender(timeout=0.5)[0].send(receiver.url(), signed()[1], b"{}")
    assert result.status is None and result.error == "timed out after 0.5 s"
    assert time.monotonic() - started <= 5.0  # far from 0.5 s (a loaded machine), far below the drip's 10 s


# --- refusals ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("local_mode, ips, named", [
    (False, ["10.0.0.1"], "10.0.0.1 is a private"),
    (True, ["169.254.169.254"], "169.254.169.254 is a cloud metadata address"),
    (True, ["127.0.0.1", "10.0.0.1"], "10.0.0.1 is a private"),       # any bad address refuses
    (True, ["127.0.0.1", "fd00:ec2::254"], "fd00:ec2::254 is a cloud metadata address"),
    (False, ["93.184.216.34", "127.0.0.1"], "127.0.0.1 is a loopback"),
    (True, ["::ffff:169.254.169.254"], "a cloud metadata address"),
])
def test_a_host_resolving_to_a_refused_address_is_refused_without_connecting(no_sockets, local_mode, ips, named):
    sender = HttpWebhookSender(local_mode=local_mode, timeout=0.5, resolve=Resolver(ips))
    url = "https://receiver.test/hook"
    assert named in sender.refusal(url)
    result = sender.send(url, signed()[1], b"{}")
    assert result.status is None and result.error.startswith("refused: receiver.test: ") and named in result.error


@pytest.mark.parametrize("url, named", [
    ("http://receiver.test/hook", "https"),
    ("https://127.0.0.1/hook", "loopback"),
    ("https://[::1]:8443/hook", "loopback"),
    ("https://localhost/hook", "local machine"),
])
def test_outside_local_mode_http_and_loopback_are_refused(no_sockets, url, named):
    resolver = Resolver(["93.184.216.34"])
    sender = HttpWebhookSender(local_mode=False, timeout=0.5, resolve=resolver)
    assert named in sender.refusal(url)
    assert named in sender.send(url, signed()[1], b"{}").error
    assert resolver.calls == []  # refused on its face: not even looked up


def test_a_name_that_does_not_resolve_is_refused(no_sockets):
    sender = HttpWebhookSender(local_mode=False, resolve=Resolver(None))
    assert sender.refusal("https://nowhere.test/") == "nowhere.test does not resolve"
    assert sender.send("https://nowhere.test/", {}, b"{}").error == "refused: nowhere.test does not resolve"
    assert HttpWebhookSender(local_mode=False, resolve=Resolver([])).refusal("https://x.test/") == \
        "x.test does not resolve"


def test_a_public_address_passes_the_check():
    sender = HttpWebhookSender(local_mode=False, resolve=Resolver(["93.184.216.34", "2606:2800:220:1::1"]))
    assert sender.refusal("https://hooks.example.com/livedrop") is None


def test_the_sender_resolves_once_and_connects_to_the_address_it_checked(receiver):
    # A rebinding name: allowed at the first lookup, internal at any later one. A sender that
    # checked, then connected by name, would look up twice; this one looks up once per send.
    sender, resolver = local_sender(["127.0.0.1"], ["10.0.0.1"])
    result = sender.send(receiver.url(), signed()[1], b"{}")
    assert result.status == 200 and resolver.calls == ["receiver.test"]
    assert len(receiver.requests) == 1  # receiver.test has no DNS: only the checked address leads here
    again = sender.send(receiver.url(), signed()[1], b"{}")
    assert again.error == "refused: receiver.test: 10.0.0.1 is a private or special-purpose address"
    assert resolver.calls == ["receiver.test", "receiver.test"] and len(receiver.requests) == 1


# --- network failures ---------------------------------------------------------------------------------------


def test_a_closed_port_is_a_refused_connection_not_an_exception():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = local_sender()[0].send(f"http://receiver.test:{port}/", {}, b"{}")
    assert (result.status, result.error) == (None, "connection refused")


def test_an_address_that_does_not_connect_falls_to_the_next_checked_one(receiver):
    # ::1 on the receiver's port has no listener (the receiver is IPv4 only).
    sender, _ = local_sender(["::1", "127.0.0.1"])
    assert sender.send(receiver.url(), signed()[1], b"{}").status == 200


def test_an_answer_that_is_not_http_is_an_error_not_an_exception(receiver):
    def garbage(handler):
        handler.wfile.write(b"SSH-2.0-OpenSSH\r\n\r\n")
        handler.wfile.flush()
        handler.close_connection = True

    receiver.behave = garbage
    result = local_sender()[0].send(receiver.url(), {}, b"{}")
    assert result.status is None and result.error.startswith("not an HTTP answer")


# --- TLS ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for receiver.test (the client trusts it alone)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "receiver.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("receiver.test")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return folder / "cert.pem", folder / "key.pem"


@pytest.fixture
def tls_receiver(certificate):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    server = Receiver(tls=context)
    yield server
    server.close()


def trusting(certificate):
    return ssl.create_default_context(cafile=str(certificate[0]))


def test_https_goes_to_the_checked_address_and_checks_the_certificate_against_the_urls_host(tls_receiver, certificate):
    sender, _ = local_sender(tls=trusting(certificate))
    secret, headers = signed()
    result = sender.send(tls_receiver.url(scheme="https"), headers, BODY.encode())
    assert (result.status, result.error) == (200, None)
    [request] = tls_receiver.requests
    Webhook(secret).verify(request["body"], request["headers"])


def test_a_certificate_for_another_name_is_refused(tls_receiver, certificate):
    sender, _ = local_sender(tls=trusting(certificate))
    result = sender.send(tls_receiver.url(host="other.test", scheme="https"), {}, b"{}")
    assert result.status is None and result.error.startswith("TLS certificate not accepted")
    assert tls_receiver.requests == []


def test_an_untrusted_certificate_is_refused(tls_receiver):
    result = local_sender()[0].send(tls_receiver.url(scheme="https"), {}, b"{}")  # the system's CAs only
    assert result.status is None and result.error.startswith("TLS certificate not accepted")


def test_https_to_a_plain_http_server_is_a_tls_error(receiver, certificate):
    result = local_sender(tls=trusting(certificate))[0].send(receiver.url(scheme="https"), {}, b"{}")
    assert result.status is None and result.error.startswith("TLS error")


def test_the_secret_box_asks_kms_once_per_secret_and_context():
    """A sweep signs many deliveries per endpoint: each secret is decrypted once per container."""
    import base64

    from chalicelib.adapters.webhook_secrets import KmsSecretBox

    class Kms:
        calls = 0

        def decrypt(self, **request):
            Kms.calls += 1
            return {"Plaintext": b"whsec_" + request["CiphertextBlob"]}

    box = KmsSecretBox("alias/test", client=Kms())
    blob = base64.b64encode(b"abc").decode()
    for _ in range(5):
        assert box.decrypt(blob, {"endpointId": "whk_1"}) == "whsec_abc"
    box.decrypt(blob, {"endpointId": "whk_2"})  # another context is another question to KMS
    assert Kms.calls == 2
