"""Fixtures of the local_test/ script and SDK local-mode tests: the image, a trained copy of test_dir.

The `image` fixture (tests/conftest.py) skips without Docker outside CI and fails under CI.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from .helpers import LOCAL_TEST, run_script


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
