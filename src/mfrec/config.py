"""TrainingConfig: the SageMaker training environment, read once through sagemaker-training."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from mfrec.errors import UserError

DEFAULT_BASE_DIR = "/opt/ml"
TRAIN_CHANNEL = "train"
OPTIONAL_CHANNELS = ("validation", "test")


@dataclass(frozen=True)
class TrainingPaths:
    """Where a training job writes; known even when the rest of the environment is unreadable."""

    base_dir: Path

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> "TrainingPaths":
        return cls(Path(environ.get("SAGEMAKER_BASE_DIR", DEFAULT_BASE_DIR)))

    @property
    def failure_file(self) -> Path:
        return self.base_dir / "output" / "failure"

    @property
    def checkpoint_dir(self) -> Path:
        return self.base_dir / "checkpoints"

    @property
    def config_dir(self) -> Path:
        return self.base_dir / "input" / "config"


@dataclass(frozen=True)
class TrainingConfig:
    paths: TrainingPaths
    channels: Mapping[str, Path]
    model_dir: Path
    output_data_dir: Path
    hosts: tuple[str, ...]
    current_host: str
    network_interface_name: str
    num_gpus: int
    hyperparameters: Mapping[str, Any]

    @property
    def checkpoint_dir(self) -> Path:
        return self.paths.checkpoint_dir

    @property
    def is_distributed(self) -> bool:
        return len(self.hosts) > 1

    @property
    def is_first_host(self) -> bool:
        return self.current_host == sorted(self.hosts)[0]


def load_training_config(paths: TrainingPaths) -> TrainingConfig:
    """Read hyperparameters, channels and hosts via sagemaker-training's Environment.

    sagemaker_training resolves SAGEMAKER_BASE_DIR when it is imported, so it is imported
    here, at run time, after main() has settled the environment.
    """
    os.environ["SAGEMAKER_BASE_DIR"] = str(paths.base_dir)
    from sagemaker_training import environment

    if Path(environment.base_dir) != paths.base_dir:
        raise RuntimeError(f"sagemaker_training was imported with base dir {environment.base_dir}, not {paths.base_dir}")
    raw_hyperparameters = _hyperparameters(paths)
    input_data_config = _input_data_config(paths)
    # Checked before Environment, which re-reads inputdataconfig.json when given no channels.
    if TRAIN_CHANNEL not in input_data_config:
        raise UserError(
            f"the required channel '{TRAIN_CHANNEL}' is missing; channels given: "
            f"{', '.join(sorted(input_data_config)) or 'none'} (see {paths.config_dir / 'inputdataconfig.json'})"
        )
    env = environment.Environment(
        resource_config=_resource_config(paths),
        input_data_config=input_data_config,
        # Environment re-reads the file when given an empty dict; a sagemaker_ key is split off.
        hyperparameters=raw_hyperparameters or {"sagemaker_job_name": ""},
    )
    channels = {name: Path(path) for name, path in env.channel_input_dirs.items()}
    return TrainingConfig(
        paths=paths,
        channels=channels,
        model_dir=Path(env.model_dir),
        output_data_dir=Path(env.output_data_dir),
        hosts=tuple(env.hosts),
        current_host=env.current_host,
        network_interface_name=env.network_interface_name,
        num_gpus=env.num_gpus,
        hyperparameters=raw_hyperparameters,
    )


def _resource_config(paths: TrainingPaths) -> dict:
    """resourceconfig.json, or a single host when run outside SageMaker without one."""
    document = _read_json_if_present(paths.config_dir / "resourceconfig.json")
    return document or {"current_host": "algo-1", "hosts": ["algo-1"]}


def _input_data_config(paths: TrainingPaths) -> dict:
    """inputdataconfig.json, or the channel folders present under input/data."""
    document = _read_json_if_present(paths.config_dir / "inputdataconfig.json")
    if document is not None:
        return document
    data_dir = paths.base_dir / "input" / "data"
    found = sorted(p.name for p in data_dir.iterdir() if p.is_dir()) if data_dir.is_dir() else []
    return {name: {"TrainingInputMode": "File"} for name in found}


def _hyperparameters(paths: TrainingPaths) -> dict:
    """hyperparameters.json as SageMaker wrote it (string values); {} when absent."""
    document = _read_json_if_present(paths.config_dir / "hyperparameters.json")
    return document or {}


def _read_json_if_present(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UserError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(document, dict):
        raise UserError(f"{path} must hold a JSON object, not {type(document).__name__}")
    return document

