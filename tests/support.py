"""Helpers for tests that need outside tools (Docker, the SDK): skip outside CI, fail in CI."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def skip_or_fail(reason: str) -> None:
    """Outside CI a missing tool skips the test; under CI it is a failure."""
    if in_ci():
        pytest.fail(f"cannot run under CI: {reason}")
    pytest.skip(reason)


def docker_engine_problem() -> str | None:
    if shutil.which("docker") is None:
        return "the docker command is not installed"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60)
    return None if info.returncode == 0 else f"the Docker engine does not answer: {info.stderr.strip()[-500:]}"
