"""`make run` as a user meets it: what it prints works as printed, and Ctrl-C (or a kill), at any
time, stops everything it started; so does a crash of the API."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from devstack.stack import LOOPBACK, free_port
from tests.makerun import EVERYTHING, STOP_LIMIT, MakeRun, listening_ports


@pytest.fixture
def make_run(tmp_path):
    run = MakeRun(free_port(), tmp_path, rate_limits=None)  # as a user has it: the default rate limits
    yield run
    run.kill_what_is_left()


def started(run: MakeRun) -> set[int]:
    """Waits for the welcome text; the ports that `make run`'s processes listen on."""
    serving = run.wait_for_line("Livedrop is serving on")
    run.wait_for_line("OpenAPI document:")  # the welcome text's last line
    assert serving.split()[4] == f"http://{LOOPBACK}:{run.port}", serving
    run.wait_for_children(*EVERYTHING)
    ports = listening_ports([child.pid for child in run.children])
    assert run.port in ports and len(ports) >= len(EVERYTHING), ports
    return ports


def run_as_printed(command: str) -> tuple[int, str]:
    """The printed command through a shell, as a user pastes it; --write-out only adds the status."""
    finished = subprocess.run(["sh", "-c", command + " --write-out '\\n%{http_code}'"],
                              capture_output=True, text=True, timeout=60)
    assert finished.returncode == 0, f"`{command}` exited {finished.returncode}: {finished.stderr}"
    body, _, status = finished.stdout.rpartition("\n")
    return int(status), body


@pytest.mark.parametrize("stop", [
    pytest.param(lambda process: os.killpg(process.pid, signal.SIGINT), id="ctrl-c"),  # the terminal's group
    pytest.param(lambda process: process.send_signal(signal.SIGTERM), id="sigterm"),
])
def test_make_run_serves_what_it_prints_and_stops_everything(make_run, stop):
    if shutil.which("curl") is None:
        pytest.fail("curl is not installed: the welcome text of `make run` prints curl commands, "
                    "and this test runs them as printed (apt-get install curl)")
    ports = started(make_run)
    commands = [line.strip() for line in make_run.lines if line.strip().startswith("curl ")]
    assert len(commands) == 3, make_run.output()  # README: "three curl commands that work as printed"
    bodies = []
    for command in commands:
        status, body = run_as_printed(command)
        assert 200 <= status < 300, f"`{command}` answered {status}: {body}"
        bodies.append(json.loads(body))
    demo_session = make_run.wait_for_line("demo session:").split()[-1]
    assert demo_session in json.dumps(bodies)  # the demo data printed is the data served
    web = f"http://{LOOPBACK}:{make_run.web_port}"
    pages = {name: re.search(r"http://\S+", make_run.wait_for_line(name + ":")).group()
             for name in ("viewer", "host console", "analytics", "API reference")}
    assert pages == {"viewer": f"{web}/watch/{demo_session}", "host console": f"{web}/host/{demo_session}",
                     "analytics": f"{web}/host/{demo_session}/analytics", "API reference": f"{web}/docs"}, \
        make_run.output()
    for url in pages.values():
        with urllib.request.urlopen(url, timeout=10) as page:
            assert page.status == 200 and page.headers.get_content_type() == "text/html", url
    ports.add(make_run.web_port)  # the pages' server must stop too
    assert_a_bot_is_throttled(make_run)

    stop(make_run.process)
    assert make_run.process.wait(timeout=STOP_LIMIT) == 0, make_run.output()
    make_run.assert_everything_stopped(ports)


def assert_a_bot_is_throttled(run: MakeRun) -> None:
    """A script minting shoppers from one address gets 10 (20 if it straddles the edge of the
    10-minute window), then 429 with Retry-After: `make run` has the default rate limits, as it says."""
    assert "(at most 10 new shoppers every 600 seconds per client address;" in run.output()
    started = time.time()
    answers = []
    for _ in range(25):
        request = urllib.request.Request(f"http://{LOOPBACK}:{run.port}/v1/shoppers", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                answers.append((answer.status, None))
        except urllib.error.HTTPError as refused:
            answers.append((refused.code, refused.headers["Retry-After"]))
    windows = int(time.time() // 600) - int(started // 600) + 1
    minted = sum(status == 201 for status, _ in answers)
    assert 10 <= minted <= 10 * windows, answers
    assert all(status == 429 and 1 <= int(retry) <= 600 for status, retry in answers if status != 201), answers


def test_ctrl_c_while_starting_stops_everything(make_run):
    make_run.wait_for_children("DynamoDBLocal.jar", "moto.server")
    assert not any("Livedrop is serving" in line for line in make_run.lines)  # still starting
    os.killpg(make_run.process.pid, signal.SIGINT)
    assert make_run.process.wait(timeout=STOP_LIMIT) == 0, make_run.output()
    assert "Traceback" not in make_run.output()
    make_run.assert_everything_stopped(set())


def test_when_the_api_dies_make_run_says_so_and_stops_everything(make_run):
    ports = started(make_run)
    api = next(child for child in make_run.children if "devstack.chalice_local" in child.args)
    os.kill(api.pid, signal.SIGKILL)
    assert make_run.process.wait(timeout=STOP_LIMIT) != 0
    assert "chalice local stopped" in make_run.output()
    make_run.assert_everything_stopped(ports)
