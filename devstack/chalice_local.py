"""`chalice local`, answering what it cannot route as the API answers everything else.

The same `chalice` command line, with Chalice's local server classes extended in four ways:
- What API Gateway would refuse before the app sees it answers RFC 9457 problem+json: an unknown
  path is a 404 `not_found` (Chalice imitates API Gateway's 403 "Missing Authentication Token"),
  and a method no route can have (TRACE, PROPFIND, ...) goes to the app like any other method, so
  it gets the app's own 405 `method_not_allowed` with `Allow` (http.server answered a 501 page).
- A listen backlog sized for a spike: socketserver's default of 5 pending connections resets a
  burst of buyers opening connections at once before the app sees them.
- The client's address in `requestContext.identity.sourceIp`, as API Gateway puts it (Chalice
  writes 127.0.0.1 for every request): the per-address rate limit sees each client apart, and a
  test is another client by binding its socket to another loopback address (127.0.0.2, ...).
- No Nagle on accepted connections: http.server writes an answer's headers and its body in two
  sends, and Nagle holds the body until the client ACKs the headers, which a keep-alive client
  delays by ~40 ms (delayed ACK). Every local latency then measured the kernel, not the app.
"""
import socket
import sys

from chalice import local
from chalice.app import Chalice
from chalice.config import Config

from chalicelib.api.problems import problem_response
from chalicelib.domain.errors import NotFound


class UnknownPath(local.LocalGatewayException):
    """A request no route matches, refused with the API's own 404 problem."""

    def __init__(self, path: str) -> None:
        path = path.split("?", 1)[0]
        response = problem_response(NotFound("route", path, detail=f"no route matches {path}")).to_dict()
        super().__init__(response["headers"], response["body"].encode())
        self.CODE = response["statusCode"]


class ProblemGateway(local.LocalGateway):
    def __init__(self, app_object: Chalice, config: Config, peer: str | None = None) -> None:
        super().__init__(app_object, config)
        self.peer = peer

    def _generate_lambda_event(self, method, path, headers, body):
        try:
            event = super()._generate_lambda_event(method, path, headers, body)
        except ValueError:  # Chalice's RouteMatcher: no route for this path
            raise UnknownPath(path) from None
        if self.peer:  # Chalice writes 127.0.0.1 whoever connected; API Gateway gives the peer's
            event["requestContext"]["identity"]["sourceIp"] = self.peer
        return event


class ProblemRequestHandler(local.ChaliceRequestHandler):
    def __init__(self, request, client_address, server, app_object: Chalice, config: Config) -> None:
        self.local_gateway = ProblemGateway(app_object, config, peer=client_address[0] if client_address else None)
        # Skips ChaliceRequestHandler.__init__ (it would build its own gateway): the base class
        # handles the request inside its constructor.
        local.BaseHTTPRequestHandler.__init__(self, request, client_address, server)

    def __getattr__(self, name: str):
        # http.server dispatches to `do_<METHOD>` and answers 501 where there is none: every
        # method goes through the gateway, which routes the path and lets the app refuse it.
        if name.startswith("do_"):
            return self._generic_handle
        raise AttributeError(name)

    def _send_http_response_with_body(self, code, headers, body) -> None:
        if self.command != "HEAD":
            return super()._send_http_response_with_body(code, headers, body)
        # Headers only (RFC 9110): a body written after them would be read as the next answer
        # on the same keep-alive connection.
        self.send_response(code)
        self.send_header("Content-Length", str(len(body if isinstance(body, bytes) else body.encode("utf-8"))))
        self._send_headers(headers)


class SpikeSizedServer(local.ThreadedHTTPServer):
    request_queue_size = 1024
    daemon_threads = True

    def get_request(self):
        connection, address = super().get_request()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # see the module's docstring
        return connection, address


def create_local_server(app_obj: Chalice, config: Config, host: str, port: int) -> local.LocalDevServer:
    """chalice.local.create_local_server, with the classes above."""
    local.CustomLocalChalice.__bases__ = (local.LocalChalice, app_obj.__class__)
    app_obj.__class__ = local.CustomLocalChalice
    return local.LocalDevServer(app_obj, config, host, port, handler_cls=ProblemRequestHandler,
                                server_cls=SpikeSizedServer)


# The chalice CLI builds its server through this module attribute (chalice/cli/factory.py).
local.create_local_server = create_local_server


def count_aws_calls(log_path: str) -> None:
    """For bench/spike.py: write each request's status, the AWS requests it made, the errors AWS
    answered (a cancelled transaction with its reasons), the time in the app and in AWS calls
    (one JSON line per request) to `log_path`. Patches botocore in this local process only."""
    import json
    import threading
    import time

    import botocore.client
    import botocore.exceptions

    from app import app

    calls = threading.local()
    original = botocore.client.BaseClient._make_api_call
    lock = threading.Lock()
    log = open(log_path, "a", buffering=1)

    def counting(client, operation, params):
        if not hasattr(calls, "made"):
            return original(client, operation, params)
        calls.made.append(f"{client.meta.service_model.signing_name}:{operation}")
        started = time.perf_counter()
        try:
            return original(client, operation, params)
        except botocore.exceptions.ClientError as error:
            reasons = [reason.get("Code", "None") for reason in error.response.get("CancellationReasons") or []]
            calls.failed.append(":".join([operation, error.response["Error"]["Code"], *reasons]))
            raise
        finally:
            calls.aws_seconds += time.perf_counter() - started

    def per_request(event, get_response):
        calls.made, calls.failed, calls.aws_seconds = [], [], 0.0
        started = time.perf_counter()
        response = get_response(event)
        app_ms = (time.perf_counter() - started) * 1000
        problem = response.body.get("type", "") if isinstance(response.body, dict) else ""
        line = json.dumps({"route": event.path, "status": response.status_code, "problem": problem.rsplit("/", 1)[-1],
                           "calls": calls.made, "failed": calls.failed, "ms": round(app_ms, 3),
                           "aws_ms": round(calls.aws_seconds * 1000, 3)})
        with lock:
            log.write(line + "\n")
        del calls.made
        return response

    botocore.client.BaseClient._make_api_call = counting
    app.register_middleware(per_request, "http")


if __name__ == "__main__":
    import os

    from chalice.cli import main

    if os.environ.get("LIVEDROP_AWS_CALL_LOG"):
        count_aws_calls(os.environ["LIVEDROP_AWS_CALL_LOG"])
    sys.exit(main())
