"""`docker run -v DIR:/opt/ml IMAGE train`, as a SageMaker training job runs the image."""

from __future__ import annotations

import json
import uuid

import pytest
from container_helpers import docker, make_sagemaker_dir, stop_with_sigterm, wait_for_log_line

pytestmark = pytest.mark.container
STOP_WITHIN_S = 20


def test_train_writes_the_model_dir_and_metrics(trained_dir):
    model_dir = trained_dir / "model"
    metadata = json.loads((model_dir / "model.json").read_text())
    assert metadata["format_version"] == 1
    for name in ("model.params", "customers.json", "products.json", "history.npz"):
        assert (model_dir / name).stat().st_size > 0, name
    assert (trained_dir / "output" / "data" / "metrics.json").exists()
    assert not (trained_dir / "output" / "failure").exists()


def test_bad_hyperparameter_exits_1_with_the_reason_in_output_failure(image, tmp_path):
    root = make_sagemaker_dir(tmp_path, rows=500, hyperparameters={"epochs": "zero"})
    result = docker("run", "--rm", "-v", f"{root}:/opt/ml", image, "train", check=False, timeout=300)
    assert result.returncode == 1
    assert "epochs" in (root / "output" / "failure").read_text()


def test_sigterm_stops_training_promptly_with_a_checkpoint(image, tmp_path):
    root = make_sagemaker_dir(tmp_path, rows=60000, hyperparameters={
        "epochs": "1000", "early_stopping_patience": "0", "num_embeddings": "16", "eval_max_customers": "200"})
    name = f"mfrec-train-{uuid.uuid4().hex[:8]}"
    docker("run", "-d", "--name", name, "-v", f"{root}:/opt/ml", image, "train")
    try:
        wait_for_log_line(name, "epoch=1 ", within_s=240)
        exit_code, seconds = stop_with_sigterm(name)
    finally:
        logs = docker("logs", name, check=False)
        docker("rm", "-f", name, check=False)
    assert exit_code == 143, logs.stdout[-3000:] + logs.stderr[-3000:]
    assert seconds < STOP_WITHIN_S
    assert any((root / "checkpoints").iterdir())
