"""`chalice local` with a listen backlog sized for a spike.

Chalice's local server keeps socketserver's default backlog of 5 pending connections, so a burst
of buyers opening connections at once is reset by the kernel before the app sees it. This is the
same `chalice` command line with a deeper backlog; nothing else changes.
"""
import sys

from chalice import local

local.ThreadedHTTPServer.request_queue_size = 1024
local.ThreadedHTTPServer.daemon_threads = True



def count_aws_calls(log_path: str) -> None:
    """For bench/spike.py: write each request's status and the AWS requests it made (one JSON
    line per request) to `log_path`. Patches botocore in this local process only."""
    import json
    import threading

    import botocore.client

    from app import app

    calls = threading.local()
    original = botocore.client.BaseClient._make_api_call
    lock = threading.Lock()
    log = open(log_path, "a", buffering=1)

    def counting(client, operation, params):
        if hasattr(calls, "made"):
            calls.made.append(f"{client.meta.service_model.signing_name}:{operation}")
        return original(client, operation, params)

    def per_request(event, get_response):
        calls.made = []
        response = get_response(event)
        problem = response.body.get("type", "") if isinstance(response.body, dict) else ""
        with lock:
            log.write(json.dumps({"route": event.path, "status": response.status_code,
                                  "problem": problem.rsplit("/", 1)[-1], "calls": calls.made}) + "\n")
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
