"""The training loop: batches sliced from in-memory arrays, epochs, early stopping, checkpoints.

Each epoch shuffles with a generator seeded by (seed, epoch) and, when dropout is on, reseeds
MXNet per batch, so a run resumed from a checkpoint replays exactly what an uninterrupted run
would have done.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import mxnet as mx
import numpy as np
from mxnet import gluon

from mfrec import checkpoints, optimizers
from mfrec.errors import UserError
from mfrec.model import Architecture, MFBlock
from mfrec.progress import Progress
from mfrec.steps import make_steps

log = logging.getLogger("mfrec.training")

PREDICT_CHUNK = 65536
SYNC_EVERY_BATCHES = 64


class TrainingDivergedError(UserError):
    """The loss stopped being a finite number: the hyperparameters need changing."""


@dataclass(frozen=True)
class RatingArrays:
    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray

    def __len__(self) -> int:
        return len(self.ratings)

    def take(self, index: np.ndarray) -> "RatingArrays":
        return RatingArrays(self.users[index], self.items[index], self.ratings[index])


@dataclass(frozen=True)
class LoopSettings:
    optimizer: str
    learning_rate: float
    momentum: float
    wd: float
    bias_wd: float
    dense_wd: float
    batch_size: int
    epochs: int
    patience: int
    seed: int
    init: str
    init_scale: float
    xavier_magnitude: float
    kvstore: str | None = None
    worker_index: int = 0
    num_workers: int = 1

    @property
    def writes_checkpoints(self) -> bool:
        return self.worker_index == 0

    @classmethod
    def from_hyperparameters(cls, hp, kvstore: str | None, worker_index: int = 0, num_workers: int = 1) -> "LoopSettings":
        return cls(
            optimizer=hp.optimizer, learning_rate=hp.learning_rate, momentum=hp.momentum, wd=hp.wd, bias_wd=hp.bias_wd, dense_wd=hp.dense_wd,
            batch_size=hp.batch_size, epochs=hp.epochs, patience=hp.early_stopping_patience,
            seed=hp.seed, init=hp.init, init_scale=hp.init_scale, xavier_magnitude=hp.xavier_magnitude,
            kvstore=kvstore, worker_index=worker_index, num_workers=num_workers,
        )


@dataclass
class LoopState:
    """What a checkpoint must carry besides parameters and optimizer states."""

    epoch: int = 0
    next_batch: int = 0
    epoch_sum_sq: float = 0.0
    epoch_count: int = 0
    epoch_seconds: float = 0.0
    history: list = field(default_factory=list)
    best_epoch: int = 0
    best_validation_mse: float = math.inf
    stale_epochs: int = 0
    fingerprint: str = ""

    def to_json(self) -> dict:
        document = dict(self.__dict__)
        document["best_validation_mse"] = None if math.isinf(self.best_validation_mse) else self.best_validation_mse
        return document

    @classmethod
    def from_json(cls, document: dict) -> "LoopState":
        state = cls(**document)
        if state.best_validation_mse is None:
            state.best_validation_mse = math.inf
        return state


@dataclass(frozen=True)
class FitResult:
    history: list
    best_epoch: int
    interrupted: bool


class StopFlag:
    """Set from a signal handler; the loop checks it between batches."""

    def __init__(self) -> None:
        self.requested = False

    def request(self, *_args) -> None:
        self.requested = True


def build_block(architecture: Architecture, settings: LoopSettings, contexts: list, global_mean: float = 0.0) -> MFBlock:
    mx.random.seed(settings.seed)
    # MXNet 1.9's parameter server cannot take row_sparse gradients for dense weights (the
    # server aborts on a size mismatch): a dist kvstore trains with dense gradients.
    block = MFBlock(architecture, sparse_grad=not _is_dist(settings))
    if settings.init == "xavier":
        block.initialize(mx.init.Xavier(magnitude=settings.xavier_magnitude), ctx=contexts)
    else:
        block.initialize(mx.init.Normal(settings.init_scale), ctx=contexts)
        block.dense.initialize(mx.init.Xavier(), ctx=contexts, force_reinit=True)
    if architecture.use_bias:
        for embedding in (block.user_bias, block.item_bias):
            embedding.initialize(mx.init.Zero(), ctx=contexts, force_reinit=True)
        block.global_bias.initialize(mx.init.Constant(global_mean), ctx=contexts, force_reinit=True)
    block.hybridize(static_alloc=True, static_shape=False)
    return block


def make_trainer(block: MFBlock, settings: LoopSettings) -> gluon.Trainer:
    _assign_weight_decay(block, settings)
    options = {"learning_rate": settings.learning_rate, "wd": 1.0}
    if settings.optimizer in ("sgd", "nag"):
        options["momentum"] = settings.momentum
    trainer = gluon.Trainer(block.collect_params(), optimizers.create(settings.optimizer, **options), kvstore=settings.kvstore)
    # A dist kvstore pickles the optimizer to the servers without its param_dict (where Gluon
    # keeps wd_mult): the multipliers must also sit in the optimizer's own tables.
    trainer._optimizer.wd_mult = {i: p.wd_mult for i, p in enumerate(trainer._params)}
    trainer._optimizer.lr_mult = {i: p.lr_mult for i, p in enumerate(trainer._params)}
    return trainer


def _assign_weight_decay(block: MFBlock, settings: LoopSettings) -> None:
    """Per-parameter L2 as wd_mult under an optimizer wd of 1.0."""
    for name, param in block._collect_params_with_prefix().items():
        if name.startswith(("user_embeddings", "item_embeddings")):
            param.wd_mult = settings.wd
        elif name.startswith(("user_bias", "item_bias", "global_bias")):
            param.wd_mult = settings.bias_wd
        else:
            param.wd_mult = settings.dense_wd


def predict(block: MFBlock, users: np.ndarray, items: np.ndarray, ctx) -> np.ndarray:
    """Ratings for (user, item) index pairs, dropout off."""
    out = [
        block(mx.nd.array(users[s:s + PREDICT_CHUNK], ctx=ctx), mx.nd.array(items[s:s + PREDICT_CHUNK], ctx=ctx)).asnumpy()
        for s in range(0, len(users), PREDICT_CHUNK)
    ]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def fit(
    block: MFBlock,
    trainer: gluon.Trainer,
    train: RatingArrays,
    validation: RatingArrays | None,
    settings: LoopSettings,
    contexts: list,
    checkpoint_dir: Path | None,
    stop: StopFlag,
    fingerprint: str = "",
    on_epoch: Callable[[dict], None] | None = None,
    agree_on_start: Callable[[str], None] | None = None,
) -> FitResult:
    """agree_on_start(where) must return only if every worker starts at the same point."""
    state = _resume(block, trainer, checkpoint_dir, contexts, fingerprint)
    if agree_on_start:
        agree_on_start(f"epoch={state.epoch},batch={state.next_batch},fingerprint={fingerprint[:12]}")
    # Every worker resumes from its checkpoint dir; only worker 0 writes one.
    write_dir = checkpoint_dir if settings.writes_checkpoints else None
    steps = make_steps(block, trainer, contexts, dist_step_size=_dist_step_size(settings, contexts))
    while state.epoch < settings.epochs and not _early_stop(state, settings, validation):
        finished = _run_epoch(steps, train, settings, contexts, state, stop)
        if not finished:
            _save(write_dir, block, trainer, state)
            return FitResult(state.history, state.best_epoch, interrupted=True)
        record = _end_epoch(block, validation, contexts, state, write_dir)
        log.info(_epoch_line(record))
        if on_epoch:
            on_epoch(record)
        _save(write_dir, block, trainer, state)
        if stop.requested:
            return FitResult(state.history, state.best_epoch, interrupted=True)
    _restore_best(block, write_dir, state, validation, contexts)
    return FitResult(state.history, state.best_epoch, interrupted=False)


def _run_epoch(steps, train, settings, contexts, state, stop) -> bool:
    """Train from state.next_batch to the end of the epoch; False if stopped midway."""
    started = time.perf_counter()
    batch = settings.batch_size * len(contexts)
    epoch_ratings = train.take(shard_order(len(train), settings, state.epoch))
    num_batches = steps.start_epoch(epoch_ratings, batch)
    total = len(epoch_ratings)
    progress = Progress(log, f"epoch {state.epoch + 1}", total=total, unit="ratings")
    progress.advance(state.next_batch * batch)
    reseed = steps.block.architecture.dropout_p > 0
    sum_sq = mx.nd.zeros((1,), ctx=contexts[0])
    for b in range(state.next_batch, num_batches):
        if stop.requested:
            _accumulate(state, sum_sq, b, started, batch, total)
            return False
        if reseed:
            mx.random.seed(settings.seed * 1_000_003 + state.epoch * 100_003 + b)
        sum_sq += steps.step(b)
        if (b + 1) % SYNC_EVERY_BATCHES == 0:
            sum_sq.wait_to_read()
            progress.advance(SYNC_EVERY_BATCHES * batch)
    _accumulate(state, sum_sq, num_batches, started, batch, total)
    return True


def shard_order(num_ratings: int, settings: LoopSettings, epoch: int) -> np.ndarray:
    """This worker's rows for the epoch: the same (seed, epoch) shuffle on every worker, then
    rows k::n, trimmed to an equal length (dist_sync needs the same number of steps everywhere;
    the trimmed rows change with the shuffle)."""
    order = np.random.default_rng([settings.seed, epoch]).permutation(num_ratings)
    if settings.num_workers == 1:
        return order
    per_worker = num_ratings // settings.num_workers
    return order[settings.worker_index::settings.num_workers][:per_worker]


def _is_dist(settings: LoopSettings) -> bool:
    return bool(settings.kvstore) and settings.kvstore.startswith("dist")


def _dist_step_size(settings: LoopSettings, contexts: list) -> int | None:
    """A dist kvstore fixes the gradient scale at its first step: every step must pass the same
    (global) batch size, so a last, shorter batch is scaled as a full one."""
    return settings.batch_size * len(contexts) * settings.num_workers if _is_dist(settings) else None


def _accumulate(state: LoopState, sum_sq, next_batch: int, started: float, batch: int, total: int) -> None:
    state.epoch_sum_sq += float(sum_sq.asscalar())
    state.epoch_count += min(next_batch * batch, total) - min(state.next_batch * batch, total)
    state.epoch_seconds += time.perf_counter() - started
    state.next_batch = next_batch


def _end_epoch(block, validation, contexts, state: LoopState, checkpoint_dir) -> dict:
    record = {"epoch": state.epoch + 1, "seconds": round(state.epoch_seconds, 3)}
    record["train_mse"] = state.epoch_sum_sq / max(state.epoch_count, 1)
    if not math.isfinite(record["train_mse"]):
        raise TrainingDivergedError(
            f"training diverged in epoch {state.epoch + 1} (train_mse={record['train_mse']}); "
            "lower learning_rate or raise wd"
        )
    record["validation_mse"] = None
    if validation is not None and len(validation):
        predictions = predict(block, validation.users, validation.items, contexts[0])
        record["validation_mse"] = float(np.mean((predictions - validation.ratings) ** 2))
        _track_best(block, state, record, checkpoint_dir)
    record["ratings_per_s"] = state.epoch_count / max(state.epoch_seconds, 1e-9)
    state.history.append(record)
    state.epoch += 1
    state.next_batch, state.epoch_sum_sq, state.epoch_count, state.epoch_seconds = 0, 0.0, 0, 0.0
    return record


def _track_best(block, state: LoopState, record: dict, checkpoint_dir) -> None:
    if record["validation_mse"] < state.best_validation_mse:
        state.best_validation_mse = record["validation_mse"]
        state.best_epoch = record["epoch"]
        state.stale_epochs = 0
        if checkpoint_dir is not None:
            checkpoints.save_best(checkpoint_dir, block)
    else:
        state.stale_epochs += 1


def _early_stop(state: LoopState, settings: LoopSettings, validation) -> bool:
    return validation is not None and settings.patience > 0 and state.stale_epochs >= settings.patience


def _restore_best(block, checkpoint_dir, state: LoopState, validation, contexts) -> None:
    best = checkpoints.best_params(checkpoint_dir) if checkpoint_dir is not None else None
    if validation is None or best is None or state.best_epoch == state.epoch:
        return
    log.info("restoring the parameters of epoch %d (best validation_mse=%.4f)", state.best_epoch, state.best_validation_mse)
    block.load_parameters(str(best), ctx=contexts)


def _epoch_line(record: dict) -> str:
    parts = [f"epoch={record['epoch']}", f"train_mse={record['train_mse']:.4f}"]
    if record["validation_mse"] is not None:
        parts.append(f"validation_mse={record['validation_mse']:.4f}")
    parts.append(f"ratings_per_s={record['ratings_per_s']:.0f}")
    parts.append(f"seconds={record['seconds']:.2f}")
    return " ".join(parts)


def _resume(block, trainer, checkpoint_dir, contexts, fingerprint: str) -> LoopState:
    if checkpoint_dir is None:
        return LoopState(fingerprint=fingerprint)
    document = checkpoints.read_checkpoint_state(checkpoint_dir)
    if document is None:
        return LoopState(fingerprint=fingerprint)
    if document.get("fingerprint") != fingerprint:
        log.warning("ignoring the checkpoint in %s: it was written for other data or hyperparameters", checkpoint_dir)
        return LoopState(fingerprint=fingerprint)
    checkpoints.load_checkpoint(checkpoint_dir, block, trainer, contexts)
    state = LoopState.from_json(document)
    log.info("resuming from checkpoint: epoch %d, batch %d", state.epoch + 1, state.next_batch)
    return state


def _save(checkpoint_dir, block, trainer, state: LoopState) -> None:
    if checkpoint_dir is not None:
        checkpoints.save_checkpoint(checkpoint_dir, block, trainer, state.to_json())
