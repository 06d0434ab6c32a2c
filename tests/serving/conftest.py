"""Fixtures: a real tiny model dir (artifacts.save_model), its predictor and a Flask test client."""

from __future__ import annotations

from pathlib import Path

import pytest

from mfrec.artifacts import load_model
from mfrec.serving.app import Limits, create_app
from mfrec.serving.predictor import ModelTables, Predictor
from .tiny_model import write_tiny_model

TEST_LIMITS = Limits(max_payload_mb=1, max_pairs=50, max_top_k_ids=5, max_top_k=6, max_concurrent_transforms=3)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    model_dir = tmp_path_factory.mktemp("base") / "model"
    write_tiny_model(model_dir)
    return model_dir


@pytest.fixture(scope="session")
def tiny_predictor(tiny_model_dir) -> Predictor:
    return Predictor(ModelTables.from_loaded_model(load_model(tiny_model_dir)))


@pytest.fixture()
def client(tiny_predictor):
    return create_app(tiny_predictor, TEST_LIMITS).test_client()
