"""examples/sagemaker_sdk.py without Docker: metric regexes on the log lines mfrec writes, options."""

from __future__ import annotations

import logging
import re

import pytest

from mfrec import job
from mfrec.training import _epoch_line
from .sdk_example import load_example



def metric_values(lines: list[str]) -> dict[str, list[str]]:
    """What SageMaker would record: per metric, the first group of each matching line."""
    found: dict[str, list[str]] = {}
    for definition in load_example().METRIC_DEFINITIONS:
        for line in lines:
            match = re.search(definition["Regex"], line)
            if match:
                found.setdefault(definition["Name"], []).append(match.group(1))
    return found


def logged_lines(caplog, log_function, *args) -> list[str]:
    with caplog.at_level(logging.INFO):
        log_function(*args)
    return [record.getMessage() for record in caplog.records]


EPOCH = {"epoch": 3, "train_mse": 0.81, "validation_mse": 0.8714, "ratings_per_s": 123456.4, "seconds": 1.234}
METRICS = {
    "test_mse": 0.8123, "test_rmse": 0.9013,
    "baselines": {"global_mean": {"mse": 1.2, "rmse": 1.0954}, "item_mean": {"mse": 1.1, "rmse": 1.0488},
                  "bias": {"mse": 0.95, "rmse": 0.9747}},
    "ranking": {"hr@10": 0.125, "ndcg@10": 0.0625, "users_evaluated": 200},
}


def test_epoch_line_gives_train_and_validation_mse_and_speed():
    assert metric_values([_epoch_line(EPOCH)]) == {
        "train:mse": ["0.8100"], "validation:mse": ["0.8714"], "train:ratings_per_s": ["123456"],
    }


def test_epoch_line_without_validation_gives_no_validation_metric():
    assert "validation:mse" not in metric_values([_epoch_line({**EPOCH, "validation_mse": None})])


def test_final_lines_give_each_test_and_baseline_metric_once(caplog):
    assert metric_values(logged_lines(caplog, job._log_metrics, METRICS)) == {
        "test:mse": ["0.8123"], "test:rmse": ["0.9013"], "test:hr_at_k": ["0.1250"],
        "test:ndcg_at_k": ["0.0625"], "baseline:item_mean_mse": ["1.1000"], "baseline:bias_mse": ["0.9500"],
    }


def test_every_metric_name_is_unique_and_every_regex_has_one_group():
    definitions = load_example().METRIC_DEFINITIONS
    assert len({d["Name"] for d in definitions}) == len(definitions)
    assert all(re.compile(d["Regex"]).groups == 1 for d in definitions)


def test_role_is_required_outside_local_mode(capsys):
    with pytest.raises(SystemExit):
        load_example().parse_options(["--image-uri", "x", "--train", "s3://b/t", "--output", "s3://b/o"])
    assert "--role is required" in capsys.readouterr().err


def test_local_mode_defaults_and_file_uris(tmp_path):
    example = load_example()
    options = example.parse_options(["--local", "--image-uri", "mfrec:cpu", "--train", "data", "--output", str(tmp_path)])
    assert (options.instance_type, options.role) == ("local", example.DUMMY_ROLE)
    assert example._uri(str(tmp_path), local=True) == f"file://{tmp_path}"
    assert example._uri("s3://bucket/x", local=False) == "s3://bucket/x"
