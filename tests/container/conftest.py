"""Container tests: the built image run as SageMaker runs it (`docker run IMAGE train|serve`).

The image is MFREC_TEST_IMAGE (default mfrec:cpu; `make test` builds it first). Without a
Docker engine these tests are skipped, except under CI (CI=true), where that is a failure.
A missing image is always a failure: the message says how to build it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from container_helpers import docker, make_sagemaker_dir

DEFAULT_IMAGE = "mfrec:cpu"
TRAIN_HYPERPARAMETERS = {
    "epochs": "3", "num_embeddings": "16", "min_customer_reviews": "2", "min_product_reviews": "2",
    "eval_max_customers": "200",
}


def _docker_engine_problem() -> str | None:
    if shutil.which("docker") is None:
        return "the docker command is not installed"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60)
    return None if info.returncode == 0 else f"the Docker engine does not answer: {info.stderr.strip()[-500:]}"


@pytest.fixture(scope="session")
def image() -> str:
    problem = _docker_engine_problem()
    if problem:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"container tests cannot run under CI: {problem}")
        pytest.skip(f"no Docker: {problem}")
    name = os.environ.get("MFREC_TEST_IMAGE") or DEFAULT_IMAGE
    if docker("image", "inspect", name, check=False).returncode != 0:
        pytest.fail(f"image {name} not found: build it with `make image-cpu` (or `make image-cpu OFFLINE=1`)")
    return name


@pytest.fixture(scope="session")
def trained_dir(image, tmp_path_factory) -> Path:
    """`docker run -v DIR:/opt/ml IMAGE train` on a small generated data set; DIR/model is the result."""
    root = make_sagemaker_dir(tmp_path_factory.mktemp("opt_ml"), rows=20000, hyperparameters=TRAIN_HYPERPARAMETERS)
    result = docker("run", "--rm", "-v", f"{root}:/opt/ml", image, "train", timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return root
