"""Fixtures of the local_test/ script and SDK local-mode tests: the image, a trained copy of test_dir.

The image is MFREC_TEST_IMAGE (default mfrec:cpu). Without a Docker engine the tests are
skipped, except under CI (CI=true), where that fails; a missing image always fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .helpers import LOCAL_TEST, run_script

DEFAULT_IMAGE = "mfrec:cpu"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def skip_or_fail(reason: str) -> None:
    """Outside CI a missing tool skips the test; under CI it is a failure."""
    if in_ci():
        pytest.fail(f"cannot run under CI: {reason}")
    pytest.skip(reason)


def _docker_problem() -> str | None:
    if shutil.which("docker") is None:
        return "the docker command is not installed"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60)
    return None if info.returncode == 0 else f"the Docker engine does not answer: {info.stderr.strip()[-500:]}"


@pytest.fixture(scope="session")
def image() -> str:
    problem = _docker_problem()
    if problem:
        skip_or_fail(f"no Docker: {problem}")
    name = os.environ.get("MFREC_TEST_IMAGE") or DEFAULT_IMAGE
    inspect = subprocess.run(["docker", "image", "inspect", name], capture_output=True, timeout=60)
    if inspect.returncode != 0:
        pytest.fail(f"image {name} not found: build it with `make image-cpu` (or `make image-cpu OFFLINE=1`)")
    return name


def copy_test_dir(destination: Path) -> Path:
    """local_test/test_dir's committed part (input/), as a scratch /opt/ml folder."""
    shutil.copytree(LOCAL_TEST / "test_dir" / "input", destination / "input")
    return destination


@pytest.fixture(scope="session")
def trained(image, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """train_local.sh run on a copy of test_dir: (the folder, the script's completed process)."""
    test_dir = copy_test_dir(tmp_path_factory.mktemp("test_dir"))
    result = run_script("train_local.sh", image, env={"TEST_DIR": str(test_dir)}, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return test_dir, result
