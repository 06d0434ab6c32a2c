"""load_training_config on real SageMaker directory layouts.

sagemaker_training fixes its directories from SAGEMAKER_BASE_DIR once, when it is first imported,
and Environment() also writes SM_* variables into os.environ. So every load_training_config call
here runs in a fresh `python -c` subprocess with its own SAGEMAKER_BASE_DIR, which leaves this
test process (and any other test that imports sagemaker_training) untouched. Each call costs
about a second, mostly importing sagemaker_training and boto3.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mfrec.config import TrainingConfig, TrainingPaths

LOAD_AND_PRINT = """
import json, os
from mfrec.config import TrainingPaths, load_training_config
from mfrec.errors import UserError
try:
    c = load_training_config(TrainingPaths.from_environ(os.environ))
except UserError as error:
    print(json.dumps({"user_error": str(error)}))
else:
    print(json.dumps({
        "channels": {name: str(path) for name, path in c.channels.items()},
        "model_dir": str(c.model_dir), "output_data_dir": str(c.output_data_dir),
        "checkpoint_dir": str(c.checkpoint_dir), "failure_file": str(c.paths.failure_file),
        "hosts": list(c.hosts), "current_host": c.current_host, "num_gpus": c.num_gpus,
        "network_interface_name": c.network_interface_name,
        "is_distributed": c.is_distributed, "is_first_host": c.is_first_host,
        "hyperparameters": dict(c.hyperparameters),
    }))
"""

HYPERPARAMETERS = {"epochs": "3", "optimizer": '"sgd"', "use_bias": "false", "learning_rate": "0.01"}
RESOURCES = {"current_host": "algo-2", "hosts": ["algo-1", "algo-2"], "network_interface_name": "eth1"}
CHANNELS = {
    "train": {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"},
    "test": {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"},
}


def load_in_subprocess(base_dir: Path) -> dict:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SM_")}
    environ["SAGEMAKER_BASE_DIR"] = str(base_dir)
    result = subprocess.run(
        [sys.executable, "-c", LOAD_AND_PRINT], env=environ, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def make_base_dir(base_dir: Path, hyperparameters=HYPERPARAMETERS, resources=RESOURCES, channels=CHANNELS,
                  data_dirs=("train", "test")) -> Path:
    config_dir = base_dir / "input" / "config"
    config_dir.mkdir(parents=True)
    for name, document in [("hyperparameters.json", hyperparameters), ("resourceconfig.json", resources),
                           ("inputdataconfig.json", channels)]:
        if document is not None:
            (config_dir / name).write_text(json.dumps(document))
    for name in data_dirs:
        (base_dir / "input" / "data" / name).mkdir(parents=True)
    return base_dir


def test_full_sagemaker_layout(tmp_path):
    base = make_base_dir(tmp_path / "ml")
    config = load_in_subprocess(base)
    assert config == {
        "channels": {"train": str(base / "input/data/train"), "test": str(base / "input/data/test")},
        "model_dir": str(base / "model"),
        "output_data_dir": str(base / "output/data"),
        "checkpoint_dir": str(base / "checkpoints"),
        "failure_file": str(base / "output/failure"),
        "hosts": ["algo-1", "algo-2"],
        "current_host": "algo-2",
        "num_gpus": 0,
        "network_interface_name": "eth1",
        "is_distributed": True,
        "is_first_host": False,
        "hyperparameters": HYPERPARAMETERS,
    }


def test_missing_train_channel_lists_the_channels_given(tmp_path):
    base = make_base_dir(tmp_path / "ml", channels={"validation": {}, "test": {}}, data_dirs=("validation", "test"))
    message = load_in_subprocess(base)["user_error"]
    assert "required channel 'train' is missing" in message
    assert "channels given: test, validation" in message
    assert "inputdataconfig.json" in message


def test_defaults_without_resourceconfig_or_hyperparameters(tmp_path):
    base = make_base_dir(tmp_path / "ml", hyperparameters=None, resources=None)
    config = load_in_subprocess(base)
    assert config["hosts"] == ["algo-1"] and config["current_host"] == "algo-1"
    assert config["is_distributed"] is False and config["is_first_host"] is True
    assert config["hyperparameters"] == {}


def test_channels_from_the_folders_present_without_inputdataconfig(tmp_path):
    base = make_base_dir(tmp_path / "ml", channels=None, data_dirs=("train", "validation"))
    (base / "input" / "data" / "stray-file.txt").write_text("not a channel")
    config = load_in_subprocess(base)
    assert config["channels"] == {
        "train": str(base / "input/data/train"), "validation": str(base / "input/data/validation"),
    }


def test_no_inputdataconfig_and_no_folders_is_a_missing_train_channel(tmp_path):
    base = make_base_dir(tmp_path / "ml", channels=None, data_dirs=())
    message = load_in_subprocess(base)["user_error"]
    assert "required channel 'train' is missing; channels given: none" in message


@pytest.mark.parametrize("name", ["hyperparameters.json", "resourceconfig.json", "inputdataconfig.json"])
def test_invalid_json_names_the_file(tmp_path, name):
    base = make_base_dir(tmp_path / "ml")
    (base / "input" / "config" / name).write_text('{"epochs": "3",')
    message = load_in_subprocess(base)["user_error"]
    assert f"{base / 'input/config' / name} is not valid JSON" in message


def test_json_that_is_not_an_object_names_the_file(tmp_path):
    base = make_base_dir(tmp_path / "ml")
    (base / "input" / "config" / "hyperparameters.json").write_text('["epochs", 3]')
    message = load_in_subprocess(base)["user_error"]
    assert "hyperparameters.json must hold a JSON object, not list" in message


def test_paths_from_environ():
    assert TrainingPaths.from_environ({}).base_dir == Path("/opt/ml")
    paths = TrainingPaths.from_environ({"SAGEMAKER_BASE_DIR": "/tmp/job"})
    assert paths.failure_file == Path("/tmp/job/output/failure")
    assert paths.checkpoint_dir == Path("/tmp/job/checkpoints")
    assert paths.config_dir == Path("/tmp/job/input/config")


def make_config(hosts, current_host) -> TrainingConfig:
    return TrainingConfig(
        paths=TrainingPaths(Path("/opt/ml")), channels={}, model_dir=Path("/opt/ml/model"),
        output_data_dir=Path("/opt/ml/output/data"), hosts=tuple(hosts), current_host=current_host,
        network_interface_name="eth0", num_gpus=0, hyperparameters={},
    )


def test_first_host_is_the_first_in_sorted_order():
    assert make_config(["algo-2", "algo-1"], "algo-1").is_first_host
    assert not make_config(["algo-2", "algo-1"], "algo-2").is_first_host
    assert make_config(["algo-1"], "algo-1").is_first_host
    assert not make_config(["algo-1"], "algo-1").is_distributed
