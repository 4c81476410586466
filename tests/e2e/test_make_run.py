"""`make run` as a user meets it: what it prints works as printed, and Ctrl-C (or a kill), at any
time, stops everything it started; so does a crash of the API.

The test starts what the Makefile's `run` target runs (`PYTHONPATH=. PORT=... .venv/bin/python -m
devstack.run`), not `make` itself, which would install first.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack.stack import LOOPBACK, ROOT, free_port

PYTHON = ROOT / ".venv" / "bin" / "python"  # the Makefile's $(PY)
STARTUP_LIMIT = 180  # seconds: only a bound against hanging forever, never a speed assertion
STOP_LIMIT = 60  # seconds: run.py gives each child 10 s before SIGKILL
EVERYTHING = ("DynamoDBLocal.jar", "moto.server", "devstack.chalice_local")  # what `make run` starts


@dataclass(frozen=True)
class Child:
    """A process `make run` started, told apart from a later process that reuses its pid."""
    pid: int
    started: str
    args: str

    def alive(self) -> bool:
        stat = _stat(self.pid)
        return stat is not None and stat[19] == self.started and stat[0] != "Z"


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name: [state, ppid, pgrp, session, ...]."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text.rsplit(")", 1)[1].split()


def descendants(root: int) -> list[Child]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = int(stat[1])
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and (stat := _stat(pid)) is not None:
                args = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
                found.append(Child(pid, stat[19], args))
                frontier.append(pid)
    return found


def in_process_group(pgid: int) -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir()
            if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None
            and int(stat[2]) == pgid and stat[0] != "Z"]


def listening_ports(pids: list[int]) -> set[int]:
    """TCP ports in LISTEN state held by these processes (socket inodes matched in /proc/net)."""
    inodes = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except (FileNotFoundError, PermissionError):
            continue
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def accepts_connections(port: int) -> bool:
    try:
        socket.create_connection((LOOPBACK, port), timeout=2).close()
        return True
    except OSError:
        return False


class MakeRun:
    """`python -m devstack.run` in its own process group (a terminal's foreground job), its
    stdout read line by line as it comes."""

    def __init__(self, port: int, log_dir: Path) -> None:
        # A clean environment, as a user's shell would have: nothing from this suite's AWS stack.
        env = {name: value for name, value in os.environ.items()
               if not name.startswith(("AWS_", "LIVEDROP_", "POWERTOOLS_"))}
        self.port = port
        self.stderr_path = log_dir / "stderr.log"
        with open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(
                [str(PYTHON), "-m", "devstack.run"], cwd=ROOT, env={**env, "PYTHONPATH": ".", "PORT": str(port)},
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, text=True, start_new_session=True)
        self.lines: list[str] = []
        self.changed = threading.Condition()
        self.children: list[Child] = []  # every process seen under it, for the checks and the cleanup
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            with self.changed:
                self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def wait_for_line(self, startswith: str) -> str:
        def seen():
            return next((line.strip() for line in self.lines if line.strip().startswith(startswith)), None)

        with self.changed:
            self.changed.wait_for(lambda: seen() or self.process.poll() is not None, timeout=STARTUP_LIMIT)
            line = seen()
        assert line, f"no line starting {startswith!r}; exit code {self.process.poll()}\n{self.output()}"
        return line

    def wait_for_children(self, *names: str) -> list[Child]:
        """Its child processes, once one has been started for each of `names`."""
        deadline = time.monotonic() + STARTUP_LIMIT
        while time.monotonic() < deadline and self.process.poll() is None:
            self.children = sorted(set(self.children) | set(descendants(self.process.pid)), key=lambda c: c.pid)
            if all(any(name in child.args for child in self.children) for name in names):
                return self.children
            time.sleep(0.05)
        pytest.fail(f"not all of {names} started: {[c.args for c in self.children]}\n{self.output()}")

    def output(self) -> str:
        return "\n".join(self.lines) + "\n--- stderr ---\n" + self.stderr_path.read_text(errors="replace")

    def assert_everything_stopped(self, ports: set[int]) -> None:
        assert [child.args for child in self.children if child.alive()] == []
        assert in_process_group(self.process.pid) == []
        assert [port for port in ports if accepts_connections(port)] == []

    def kill_what_is_left(self) -> None:
        """After a failed test: a clean stop first (it knows its children), then SIGKILL."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_LIMIT)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        for child in self.children:
            if child.alive():
                os.killpg(child.pid, signal.SIGKILL)  # each was started as its own group leader


@pytest.fixture
def make_run(tmp_path):
    run = MakeRun(free_port(), tmp_path)
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

    stop(make_run.process)
    assert make_run.process.wait(timeout=STOP_LIMIT) == 0, make_run.output()
    make_run.assert_everything_stopped(ports)


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
