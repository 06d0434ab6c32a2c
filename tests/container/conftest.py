"""Container tests: the built image run as SageMaker runs it (`docker run IMAGE train|serve`).

The `image` fixture (tests/conftest.py) skips without Docker outside CI and fails under CI.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from container_helpers import docker, make_sagemaker_dir

TRAIN_HYPERPARAMETERS = {
    "epochs": "3", "num_embeddings": "16", "min_customer_reviews": "2", "min_product_reviews": "2",
    "eval_max_customers": "200",
}


@pytest.fixture(scope="session")
def trained_dir(image, tmp_path_factory) -> Path:
    """`docker run -v DIR:/opt/ml IMAGE train` on a small generated data set; DIR/model is the result."""
    root = make_sagemaker_dir(tmp_path_factory.mktemp("opt_ml"), rows=20000, hyperparameters=TRAIN_HYPERPARAMETERS)
    result = docker("run", "--rm", "-v", f"{root}:/opt/ml", image, "train", timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return root
