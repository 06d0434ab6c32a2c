"""Evidence for the default hyperparameters: test MSE of candidate settings on generated data.

Usage: python bench/defaults_sweep.py CHANNEL_DIR [CHANNEL_DIR ...] > bench/results/defaults.txt

Each channel is prepared once exactly as `train` does (filters, last-review split, validation
fraction); every candidate then trains with early stopping and is scored on the held-out last
reviews, beside the baselines `train` reports.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import mxnet as mx
import numpy as np

from mfrec import evaluate
from mfrec.dataset import prepare_data
from mfrec.hyperparameters import parse_hyperparameters
from mfrec.model import Architecture
from mfrec.training import LoopSettings, StopFlag, build_block, fit, make_trainer, predict

NOTEBOOK = {"optimizer": "sgd", "learning_rate": "0.02", "momentum": "0.9", "wd": "0", "bias_wd": "0",
            "dense_wd": "0", "use_bias": "false", "dropout_p": "0.5", "init": "xavier",
            "xavier_magnitude": "60", "batch_size": "1024", "epochs": "3", "early_stopping_patience": "0"}

CANDIDATES = {
    "defaults": {},
    "notebook settings": NOTEBOOK,
    "notebook + biases, adam": {"use_bias": "true", "optimizer": "adam", "learning_rate": "0.002", "dropout_p": "0.5", "wd": "0.0001"},
    "wd 0.0001 (light L2)": {"wd": "0.0001"},
    "wd 0.01": {"wd": "0.01"},
    "wd 0.1": {"wd": "0.1"},
    "lr 0.01": {"learning_rate": "0.01"},
    "32 dims": {"num_embeddings": "32"},
    "dropout 0.3": {"dropout_p": "0.3"},
    "linear Dense": {"activation": "linear"},
    "batch 16384, lr 0.005": {"batch_size": "16384", "learning_rate": "0.005"},
}


def run(channel: Path) -> None:
    data = prepare_data({"train": channel}, parse_hyperparameters({}))
    baselines = evaluate.baseline_metrics(
        evaluate.fit_baselines(data.train.users, data.train.items, data.train.ratings, len(data.customers), len(data.products)),
        data.test.users, data.test.items, data.test.ratings,
    )
    print(f"\n## {channel}: {len(data.train)} train, {len(data.test)} test ratings, "
          f"{len(data.customers)} customers, {len(data.products)} products")
    print("| setting | test MSE | best epoch | seconds |\n|---|---|---|---|")
    for name, values in baselines.items():
        print(f"| baseline: {name} | {values['mse']:.4f} | | |")
    for name, overrides in CANDIDATES.items():
        print(_row(name, overrides, data), flush=True)


def _row(name: str, overrides: dict, data) -> str:
    hp = parse_hyperparameters(overrides)
    architecture = Architecture(len(data.customers), len(data.products), hp.num_embeddings, hp.dropout_p, hp.use_bias, hp.activation)
    settings = LoopSettings.from_hyperparameters(hp, kvstore=None)
    block = build_block(architecture, settings, [mx.cpu()], global_mean=float(data.train.ratings.mean()))
    started = time.perf_counter()
    result = fit(block, make_trainer(block, settings), data.train, data.validation, settings, [mx.cpu()], None, StopFlag())
    predicted = np.clip(predict(block, data.test.users, data.test.items, mx.cpu()), *data.rating_range)
    return (f"| {name} `{json.dumps(overrides) if overrides is not NOTEBOOK else 'notebook'}` | "
            f"{evaluate.mse(predicted, data.test.ratings):.4f} | {result.best_epoch or len(result.history)} | "
            f"{time.perf_counter() - started:.0f} |")


if __name__ == "__main__":
    print(f"# defaults sweep ({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f})")
    for argument in sys.argv[1:]:
        run(Path(argument))
