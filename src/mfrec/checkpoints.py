"""Training checkpoints: parameters, optimizer state and loop state, written without pickle.

Layout under the checkpoint dir (SageMaker syncs /opt/ml/checkpoints with S3):
  current/   model.params, optimizer.nd (MXNet's binary NDArray format), state.json
  best.params  parameters of the best validation epoch so far
A checkpoint is written to .next/ and swapped in by renames, so a kill at any moment leaves
either the old or the new checkpoint readable (.previous/ is used if the swap was cut short).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mxnet as mx

CURRENT, NEXT, PREVIOUS = "current", ".next", ".previous"
PARAMS, OPTIMIZER, STATE, BEST = "model.params", "optimizer.nd", "state.json", "best.params"


def save_checkpoint(checkpoint_dir: Path, block, trainer: mx.gluon.Trainer, state: dict) -> None:
    root = Path(checkpoint_dir)
    staging = root / NEXT
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    block.save_parameters(str(staging / PARAMS))
    arrays, optimizer_state = _optimizer_state(trainer)
    mx.nd.save(str(staging / OPTIMIZER), arrays)
    (staging / STATE).write_text(json.dumps({"loop": state, "optimizer": optimizer_state}))
    current, previous = root / CURRENT, root / PREVIOUS
    shutil.rmtree(previous, ignore_errors=True)
    if current.exists():
        current.rename(previous)
    staging.rename(current)
    shutil.rmtree(previous, ignore_errors=True)


def read_checkpoint_state(checkpoint_dir: Path) -> dict | None:
    """The loop state of the last complete checkpoint, or None if there is none."""
    folder = _latest(Path(checkpoint_dir))
    return None if folder is None else json.loads((folder / STATE).read_text())["loop"]


def load_checkpoint(checkpoint_dir: Path, block, trainer: mx.gluon.Trainer, contexts) -> None:
    folder = _latest(Path(checkpoint_dir))
    block.load_parameters(str(folder / PARAMS), ctx=contexts)
    document = json.loads((folder / STATE).read_text())
    _restore_optimizer(trainer, mx.nd.load(str(folder / OPTIMIZER)), document["optimizer"])


def save_best(checkpoint_dir: Path, block) -> None:
    Path(checkpoint_dir).mkdir(parents=True, exist_ok=True)
    block.save_parameters(str(Path(checkpoint_dir) / BEST))


def best_params(checkpoint_dir: Path) -> Path | None:
    path = Path(checkpoint_dir) / BEST
    return path if path.exists() else None


def _latest(root: Path) -> Path | None:
    for name in (CURRENT, PREVIOUS):
        if (root / name / STATE).exists():
            return root / name
    return None


# MXNet's own Trainer.save_states pickles the optimizer; these two functions read and write
# the same information (Updater.states and the optimizer's update counts) as plain arrays.
def _optimizer_state(trainer: mx.gluon.Trainer) -> tuple[dict, dict]:
    updater = trainer._updaters[0]
    optimizer = updater.optimizer
    arrays, layout = {}, {}
    for index, state in updater.states.items():
        parts = state if isinstance(state, (tuple, list)) else (state,)
        layout[str(index)] = {"tuple": isinstance(state, (tuple, list)), "parts": [p is not None for p in parts]}
        for j, part in enumerate(parts):
            if part is not None:
                arrays[f"{index}/{j}"] = part.as_in_context(mx.cpu())
    counts = {str(device): {str(i): n for i, n in table.items()} for device, table in optimizer._all_index_update_counts.items()}
    return arrays, {"num_update": optimizer.num_update, "index_update_counts": counts, "layout": layout}


def _restore_optimizer(trainer: mx.gluon.Trainer, arrays: dict, document: dict) -> None:
    for updater in trainer._updaters:
        for index, info in document["layout"].items():
            parts = [arrays[f"{index}/{j}"].copy() if present else None for j, present in enumerate(info["parts"])]
            updater.states[int(index)] = tuple(parts) if info["tuple"] else parts[0]
            updater.states_synced[int(index)] = False
    optimizer = trainer._updaters[0].optimizer
    optimizer.num_update = document["num_update"]
    optimizer._all_index_update_counts = {
        int(device): {int(i): n for i, n in table.items()} for device, table in document["index_update_counts"].items()
    }
    optimizer._index_update_count = optimizer._all_index_update_counts.setdefault(0, {})
