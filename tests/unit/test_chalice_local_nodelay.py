"""`chalice local`'s server answers without Nagle's delay (devstack/chalice_local.py)."""
import socket
from socketserver import BaseRequestHandler

import pytest

from devstack.chalice_local import SpikeSizedServer


@pytest.fixture
def server():
    server = SpikeSizedServer(("127.0.0.1", 0), BaseRequestHandler)
    yield server
    server.server_close()


def test_accepted_connections_have_nagle_off(server):
    """Headers and body go out in two sends: with Nagle on, a keep-alive client waits ~40 ms for
    the body (its delayed ACK), so every local latency measured the kernel."""
    with socket.create_connection(server.server_address):
        accepted, _ = server.get_request()
        with accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_a_plain_accepted_connection_keeps_nagle(server):
    """What the test above would see without the override (so it can fail)."""
    with socket.create_connection(server.server_address):
        accepted, _ = server.socket.accept()
        with accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
