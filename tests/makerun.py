"""`make run` as a test starts it: what the Makefile's `run` target runs (`PYTHONPATH=. PORT=...
.venv/bin/python -m devstack.run`), not `make` itself, which would install first; with its stdout
read as it comes, and every process it started known, so that a test can prove they all stopped."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack.stack import LOOPBACK, ROOT, free_port
from tests.conftest import GENEROUS_RATE_LIMITS

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

    def __init__(self, port: int, log_dir: Path, web_port: int | None = None,
                 settings: dict[str, str] | None = None, rate_limits: str | None = GENEROUS_RATE_LIMITS) -> None:
        # A clean environment, as a user's shell would have: nothing from this suite's AWS stack.
        env = {name: value for name, value in os.environ.items()
               if not name.startswith(("AWS_", "LIVEDROP_", "POWERTOOLS_"))}
        # The tests drive it from one address faster than people would; `rate_limits=None`: as
        # `make run` is, with the default rate limits.
        if rate_limits is not None:
            env["LIVEDROP_RATE_LIMITS"] = rate_limits
        self.port = port
        self.web_port = web_port or free_port()
        self.stderr_path = log_dir / "stderr.log"
        with open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(
                [str(PYTHON), "-m", "devstack.run"], cwd=ROOT, env={**env, **(settings or {}), "PYTHONPATH": ".", "PORT": str(port),
                                                    "WEB_PORT": str(self.web_port)},
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

    def wait_until(self, check, what: str, timeout: float = STARTUP_LIMIT):
        """`check()` now, then again each time `make run` prints a line (its analytics feed prints
        one per batch applied), until it is true: no polling on a timer."""
        result = None

        def done():
            nonlocal result
            result = check()
            return result

        with self.changed:
            self.changed.wait_for(lambda: done() or self.process.poll() is not None, timeout=timeout)
        assert result, f"not {what} within {timeout} s\n{self.output()[-3000:]}"
        return result

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


