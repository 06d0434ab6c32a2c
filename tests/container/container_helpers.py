"""Helpers of the container tests: the docker CLI, SageMaker's /opt/ml layout, a free port."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import requests

from mfrec.data.generate import write_reviews


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} -> {result.returncode}\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return result


def make_sagemaker_dir(root: Path, rows: int, hyperparameters: dict, seed: int = 5) -> Path:
    """SageMaker's /opt/ml layout: input/config/*.json and one train channel of generated reviews."""
    config = root / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    (config / "resourceconfig.json").write_text(json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]}))
    (config / "inputdataconfig.json").write_text(json.dumps(
        {"train": {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}}))
    channel = root / "input" / "data" / "train"
    channel.mkdir(parents=True)
    write_reviews(channel / "reviews.tsv.gz", rows, seed=seed)
    return root


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_log_line(container: str, text: str, within_s: float) -> str:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        logs = docker("logs", container).stdout + docker("logs", container).stderr
        if text in logs:
            return logs
        if docker("inspect", "-f", "{{.State.Running}}", container).stdout.strip() != "true":
            raise AssertionError(f"{container} exited before logging {text!r}:\n{logs[-3000:]}")
        time.sleep(0.5)
    raise AssertionError(f"{container} did not log {text!r} within {within_s} s")


def wait_for_ping(url: str, within_s: float) -> requests.Response:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            return requests.get(f"{url}/ping", timeout=2)
        except requests.ConnectionError:
            time.sleep(0.2)
    raise AssertionError(f"{url}/ping did not answer within {within_s} s")


def stop_with_sigterm(container: str) -> tuple[int, float]:
    """SIGTERM (as `docker stop` and SageMaker send it); the exit code and seconds until exit."""
    started = time.monotonic()
    docker("kill", "--signal", "TERM", container)
    exit_code = int(docker("wait", container, timeout=60).stdout.strip())
    return exit_code, time.monotonic() - started
