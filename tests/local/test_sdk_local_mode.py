"""examples/sagemaker_sdk.py in SageMaker SDK local mode against the built image.

fit (a training container via docker-compose) -> model.tar.gz in a file:// output path ->
deploy (a serving container) -> predict ratings and recommendations -> delete the model and
the endpoint. Nothing may reach AWS: AWS_ENDPOINT_URL points at a closed port, so any AWS
call fails at once. About 30 s on an idle 2-core machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from support import skip_or_fail
from .helpers import LOCAL_TEST, free_port
from .sdk_example import EXAMPLE

pytestmark = [pytest.mark.container, pytest.mark.slow]
CUSTOMERS = ["53641426", "08766908"]
PRODUCTS = ["B07FIBSMCC", "B095P7AX5R"]
NO_AWS = {
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="module")
def sdk_tools():
    try:
        import sagemaker  # noqa: F401
    except ImportError:
        skip_or_fail("the SageMaker Python SDK is not installed: pip install -r .ci/requirements.txt")
    if shutil.which("docker-compose") is None and subprocess.run(
            ["docker", "compose", "version"], capture_output=True).returncode != 0:
        skip_or_fail("neither docker-compose nor `docker compose` is installed")


def compose_containers(container_root: Path) -> list[str]:
    """IDs of the containers local mode started from compose files under container_root."""
    listed = subprocess.run(
        ["docker", "ps", "-a", "--format", '{{.ID}} {{.Label "com.docker.compose.project.working_dir"}}'],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.split("\n")
    return [line.split()[0] for line in listed if line.strip() and str(container_root) in line]


def running(ids: list[str]) -> list[str]:
    if not ids:
        return []
    states = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", *ids],
                            capture_output=True, text=True, timeout=60).stdout.split()
    return [i for i, state in zip(ids, states) if state == "true"]


@pytest.fixture()
def container_root(tmp_path):
    root = tmp_path / "containers"
    root.mkdir()
    yield root
    leftovers = compose_containers(root)  # local mode leaves its stopped containers behind
    if leftovers:
        subprocess.run(["docker", "rm", "-f", *leftovers], capture_output=True, timeout=120)


def test_fit_deploy_predict_delete_in_local_mode(image, sdk_tools, tmp_path, container_root):
    output = tmp_path / "output"
    command = [
        sys.executable, str(EXAMPLE), "--local", "--image-uri", image,
        "--train", str(LOCAL_TEST / "test_dir" / "input" / "data" / "train"), "--output", str(output),
        "--serving-port", str(free_port()), "--container-root", str(container_root),
        "--customer-ids", *CUSTOMERS, "--product-ids", *PRODUCTS,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=tmp_path,
                            env={**os.environ, **NO_AWS})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]

    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["model_data"] == f"file://{output}/model.tar.gz"
    with tarfile.open(output / "model.tar.gz") as archive:
        assert {"model.json", "model.params", "customers.json", "products.json", "history.npz"} <= set(archive.getnames())
    ratings = answer["ratings"]
    assert len(ratings) == len(CUSTOMERS)
    assert all(isinstance(r, float) and 1.0 <= r <= 5.0 for r in ratings), ratings
    recommendations = answer["recommendations"]
    assert recommendations["customer_id"] == CUSTOMERS[0] and not recommendations["unknown"]
    assert len(recommendations["recommendations"]) == 5
    assert running(compose_containers(container_root)) == []  # the endpoint was deleted
