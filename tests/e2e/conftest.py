"""The e2e tier: real HTTP against `chalice local` (what `make run` serves), on a free loopback port, on the
same AWS stack."""
import os

import pytest

from devstack.run import start_api, stop_api, wait_for_api
from devstack.stack import LOOPBACK, free_port


@pytest.fixture(scope="session")
def base_url(aws_stack, tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("chalice-local") / "chalice-local.log"
    process = start_api({**os.environ, **aws_stack}, port, log_path=log)
    url = f"http://{LOOPBACK}:{port}"
    try:
        wait_for_api(url + "/v1/openapi.json", process)
        yield url
    finally:
        stop_api(process)
