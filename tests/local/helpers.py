"""Helpers of the local_test/ tests: run its scripts, a free port, wait for /ping."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
LOCAL_TEST = REPO / "local_test"
PAYLOADS = LOCAL_TEST / "payloads"


def run_script(name: str, *args: str, env: dict | None = None, timeout: float = 120,
               cwd: Path | None = None) -> subprocess.CompletedProcess:
    """local_test/NAME ARGS, from another folder than its own (the scripts must not care)."""
    return subprocess.run(
        [str(LOCAL_TEST / name), *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})}, cwd=cwd or REPO / "tests",
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_ping(url: str, within_s: float, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(f"{url}/ping", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url}/ping did not answer 200 within {within_s} s")
