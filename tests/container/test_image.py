"""What the image is, before it runs anything: the SageMaker contract and a clean runtime."""

from __future__ import annotations

import json

import pytest

from container_helpers import docker

pytestmark = pytest.mark.container


def inspect(image: str) -> dict:
    return json.loads(docker("image", "inspect", image).stdout)[0]["Config"]


def in_image(image: str, script: str) -> str:
    return docker("run", "--rm", image, "sh", "-c", script).stdout


def test_image_accepts_sagemakers_port_binding(image):
    assert inspect(image)["Labels"]["com.amazonaws.sagemaker.capabilities.accept-bind-to-port"] == "true"


def test_pid_1_is_tini_so_sigterm_reaches_the_program(image):
    assert inspect(image)["Entrypoint"] == ["/usr/bin/tini", "--"]
    assert in_image(image, "tr '\\0' ' ' </proc/1/cmdline").startswith("/usr/bin/tini -- sh")


def test_python_output_is_unbuffered_and_writes_no_bytecode(image):
    env = dict(item.split("=", 1) for item in inspect(image)["Env"])
    assert env["PYTHONUNBUFFERED"] == "1" and env["PYTHONDONTWRITEBYTECODE"] == "1"


def test_train_and_serve_on_path_are_ours_not_sagemaker_trainings(image):
    output = in_image(image, 'for s in train serve; do command -v $s; cat "$(command -v $s)"; done')
    assert "/opt/venv/bin/train" in output and "/opt/venv/bin/serve" in output
    assert "from mfrec.train import main" in output
    assert "from mfrec.serving.server import main" in output
    assert "sagemaker_training" not in output


def test_no_compiler_and_nothing_baked_into_opt_ml(image):
    output = in_image(image, "for c in gcc cc g++ c++ make; do command -v $c || true; done; ls -d /opt/ml 2>&1 || true")
    assert output.strip() == "ls: cannot access '/opt/ml': No such file or directory"


def test_unprivileged_model_server_user_exists(image):
    uid = int(in_image(image, "id -u model-server"))
    assert uid != 0


def test_mxnet_and_mfrec_import(image):
    output = in_image(image, "python -c 'import mxnet, mfrec; print(mxnet.__version__)'")
    assert output.strip() == "1.9.1"
