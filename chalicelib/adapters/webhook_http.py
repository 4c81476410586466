"""Sends a webhook over HTTP(S), once, to an address it has checked.

No SSRF through DNS: the host is resolved once per attempt, every address it resolves to must be
allowed (domain/webhooks.py `address_refusal`), and the connection goes to one of those very
addresses, not to the name again (a rebinding DNS could answer differently the second time).
TLS is still checked against the URL's host name. Redirects are never followed. The whole attempt
(connect, TLS, sending, the status line and headers, a peek at the body) has one deadline, so a
receiver that answers a byte at a time cannot hold a sweeper past it.
"""
from __future__ import annotations

import functools
import http.client
import io
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from chalicelib.domain.ports import SendResult
from chalicelib.domain.webhooks import TIMEOUT_SECONDS, address_refusal, url_problem

MAX_ANSWER_BYTES = 1024  # what a receiver says beyond its status is not ours to keep
MAX_ERROR_CHARS = 200
_DEFAULT_PORTS = {"http": 80, "https": 443}
_OURS = frozenset({"host", "content-length", "connection"})  # headers the sender writes itself

Resolver = Callable[..., list[tuple[Any, ...]]]


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str         # ASCII (IDNA for names), no brackets: for SNI and the certificate check
    port: int
    host_header: str  # host[:port] as the URL gives it
    path: str         # path and query, as written
    addresses: tuple[tuple[int, tuple[Any, ...]], ...]  # (family, sockaddr): every one checked


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("deadline reached")
    return left


class _DeadlineReader(io.RawIOBase):
    """The socket read with a timeout of the time left, before each read: a per-read timeout alone
    would let a receiver that drips its answer hold the attempt for many timeouts."""

    def __init__(self, sock: socket.socket, deadline: float, keep: Any) -> None:
        super().__init__()
        self._sock = sock
        self._deadline = deadline
        self._keep = keep  # http.client's own file on the socket: keeps the socket open until we close

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._sock.settimeout(_left(self._deadline))
        return self._sock.recv_into(buffer)

    def close(self) -> None:
        self._keep.close()
        super().close()


class _Response(http.client.HTTPResponse):
    def __init__(self, sock: socket.socket, *args: Any, deadline: float, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        self.fp = io.BufferedReader(_DeadlineReader(sock, deadline, keep=self.fp))


class HttpWebhookSender:
    """`WebhookSender` (domain/ports.py). Never raises for network problems: the result says."""

    def __init__(self, local_mode: bool, timeout: float = TIMEOUT_SECONDS, resolve: Resolver = socket.getaddrinfo,
                 tls: ssl.SSLContext | None = None) -> None:
        self.local_mode = local_mode
        self.timeout = timeout
        self._resolve = resolve
        self._given_tls = tls  # tests pass a context that trusts their own certificate

    @functools.cached_property
    def _tls(self) -> ssl.SSLContext:
        # Made on the first https send, not at cold start: loading the CA bundle takes a moment.
        return self._given_tls or ssl.create_default_context()

    def refusal(self, url: str) -> str | None:
        return self._check(url)[1]

    def send(self, url: str, headers: Mapping[str, str], body: bytes) -> SendResult:
        started = time.monotonic()
        deadline = started + self.timeout

        def result(status: int | None, retry_after: str | None = None, error: str | None = None) -> SendResult:
            return SendResult(status, retry_after, None if error is None else error[:MAX_ERROR_CHARS],
                              int((time.monotonic() - started) * 1000))

        target, refused = self._check(url)
        if target is None:
            return result(None, error=f"refused: {refused}")
        try:
            status, retry_after = self._post(target, headers, body, deadline)
        except TimeoutError:
            return result(None, error=f"timed out after {self.timeout:g} s")
        except ssl.SSLCertVerificationError as error:
            return result(None, error=f"TLS certificate not accepted: {error.verify_message}")
        except ssl.SSLError as error:
            return result(None, error=f"TLS error: {error.reason or type(error).__name__}")
        except ConnectionRefusedError:
            return result(None, error="connection refused")
        except http.client.HTTPException as error:
            return result(None, error=f"not an HTTP answer ({type(error).__name__})")
        except OSError as error:
            return result(None, error=f"network error: {error.strerror or type(error).__name__}")
        return result(status, retry_after)

    def _check(self, url: str) -> tuple[_Target | None, str | None]:
        """The target with every address the host has, or why it may not be called."""
        problem = url_problem(url, self.local_mode)
        if problem is not None:
            return None, problem
        parts = urlsplit(url)
        scheme, name = parts.scheme.lower(), parts.hostname or ""
        port = parts.port or _DEFAULT_PORTS[scheme]
        try:
            literal = ipaddress.ip_address(name)
        except ValueError:
            literal = None
        if literal is not None:  # url_problem has judged it: nothing to resolve
            host = name
            family = socket.AF_INET if literal.version == 4 else socket.AF_INET6
            sockaddr: tuple[Any, ...] = (name, port) if literal.version == 4 else (name, port, 0, 0)
            addresses = [(family, sockaddr)]
        else:
            host = name.encode("idna").decode("ascii")
            try:
                found = self._resolve(host, port, type=socket.SOCK_STREAM)
            except (OSError, UnicodeError):
                return None, f"{name} does not resolve"
            addresses = [(family, sockaddr) for family, _type, _proto, _canon, sockaddr in found
                         if family in (socket.AF_INET, socket.AF_INET6)]
            if not addresses:
                return None, f"{name} does not resolve"
            for _family, sockaddr in addresses:
                # Any bad address refuses the URL: a name that also points inside is not a receiver.
                refusal = address_refusal(str(sockaddr[0]), self.local_mode)
                if refusal is not None:
                    return None, f"{name}: {refusal}"
        bracketed = f"[{host}]" if ":" in host else host
        host_header = bracketed if parts.port is None else f"{bracketed}:{parts.port}"
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return _Target(scheme, host, port, host_header, path, tuple(addresses)), None

    def _connect(self, target: _Target, deadline: float) -> socket.socket:
        """To the checked addresses in the resolver's order (an unreachable IPv6 falls to IPv4)."""
        failure: OSError | None = None
        for family, sockaddr in target.addresses:
            try:
                sock = socket.socket(family, socket.SOCK_STREAM)  # fails on a host without IPv6
            except OSError as error:
                failure = error
                continue
            try:
                sock.settimeout(_left(deadline))
                sock.connect(sockaddr)
                return sock
            except TimeoutError:
                sock.close()
                raise
            except OSError as error:
                sock.close()
                failure = error
        assert failure is not None  # _check never returns a target without addresses
        raise failure

    def _post(self, target: _Target, headers: Mapping[str, str], body: bytes,
              deadline: float) -> tuple[int, str | None]:
        sock = self._connect(target, deadline)
        connection = http.client.HTTPConnection(target.host, target.port)  # never connects: it is handed `sock`
        try:
            if target.scheme == "https":
                sock.settimeout(_left(deadline))
                sock = self._tls.wrap_socket(sock, server_hostname=target.host)
            connection.sock = sock
            connection.response_class = functools.partial(_Response, deadline=deadline)  # type: ignore[assignment]
            connection.putrequest("POST", target.path, skip_host=True, skip_accept_encoding=True)
            connection.putheader("Host", target.host_header)
            for name, value in headers.items():
                if name.lower() not in _OURS:
                    connection.putheader(name, value)
            connection.putheader("Content-Length", str(len(body)))
            connection.putheader("Connection", "close")
            sock.settimeout(_left(deadline))
            connection.endheaders(body)
            response = connection.getresponse()  # reads through _DeadlineReader
            try:
                response.read(MAX_ANSWER_BYTES)
            except (OSError, http.client.HTTPException):
                pass  # the status has come: a body cut short or late does not change the answer
            finally:
                response.close()
            return response.status, response.getheader("Retry-After")
        finally:
            connection.close()
            sock.close()
