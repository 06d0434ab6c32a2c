"""Fixtures shared by the test folders that run Docker (container/, local/, release/).

The image is MFREC_TEST_IMAGE (default mfrec:cpu; `make test` builds it first). Without a
Docker engine those tests are skipped, except under CI (CI=true), where that is a failure.
A missing image is always a failure: the message says how to build it.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from support import docker_engine_problem, skip_or_fail

DEFAULT_IMAGE = "mfrec:cpu"


@pytest.fixture(scope="session")
def docker_engine() -> None:
    problem = docker_engine_problem()
    if problem:
        skip_or_fail(f"no Docker: {problem}")


@pytest.fixture(scope="session")
def image(docker_engine) -> str:
    name = os.environ.get("MFREC_TEST_IMAGE") or DEFAULT_IMAGE
    inspect = subprocess.run(["docker", "image", "inspect", name], capture_output=True, timeout=60)
    if inspect.returncode != 0:
        pytest.fail(f"image {name} not found: build it with `make image-cpu` (or `make image-cpu OFFLINE=1`)")
    return name
