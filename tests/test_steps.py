"""The two ways through a batch: gathered rows (one device) against Gluon's
replicated path with row_sparse gradients, which must reach the same parameters."""

from __future__ import annotations

import mxnet as mx
import numpy as np
import pytest

from mfrec import checkpoints
from mfrec.model import Architecture
from mfrec.steps import GatheredSteps, ReplicatedSteps, make_steps
from mfrec.training import LoopSettings, RatingArrays, build_block, make_trainer

NUM_USERS, NUM_ITEMS, BATCH = 30, 20, 16


def settings(optimizer: str, **changes) -> LoopSettings:
    values = dict(optimizer=optimizer, learning_rate=0.05, momentum=0.9, wd=0.03, bias_wd=1e-3, dense_wd=1e-3,
                  batch_size=BATCH, epochs=1, patience=0, seed=5, init="normal", init_scale=0.3, xavier_magnitude=2.0)
    values.update(changes)
    return LoopSettings(**values)


def ratings(seed: int = 0, count: int = 100) -> RatingArrays:
    rng = np.random.default_rng(seed)
    # Skewed ids, so batches repeat users and items and leave some rows untouched.
    users = np.minimum(rng.geometric(0.15, count) - 1, NUM_USERS - 1).astype(np.int32)
    items = np.minimum(rng.geometric(0.2, count) - 1, NUM_ITEMS - 1).astype(np.int32)
    return RatingArrays(users, items, rng.integers(1, 6, count).astype(np.float32))


def trained(steps_class, loop: LoopSettings, use_bias: bool, num_batches: int | None = None):
    architecture = Architecture(NUM_USERS, NUM_ITEMS, 8, use_bias=use_bias)
    block = build_block(architecture, loop, [mx.cpu()], global_mean=3.0)
    trainer = make_trainer(block, loop)
    steps = steps_class(block, trainer, [mx.cpu()]) if steps_class is ReplicatedSteps else steps_class(block, trainer, mx.cpu())
    total = steps.start_epoch(ratings(), BATCH)
    losses = [float(steps.step(b).asscalar()) for b in range(num_batches or total)]
    return block, trainer, steps, losses


def parameters(block) -> dict[str, np.ndarray]:
    return {name: p.data().asnumpy() for name, p in block._collect_params_with_prefix().items()}


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop"])
@pytest.mark.parametrize("use_bias", [True, False])
def test_gathered_rows_reach_the_parameters_of_gluons_row_sparse_path(optimizer, use_bias):
    gathered, _, _, gathered_losses = trained(GatheredSteps, settings(optimizer), use_bias)
    replicated, _, _, replicated_losses = trained(ReplicatedSteps, settings(optimizer), use_bias)
    np.testing.assert_allclose(gathered_losses, replicated_losses, rtol=1e-4)
    expected = parameters(replicated)
    for name, value in parameters(gathered).items():
        np.testing.assert_allclose(value, expected[name], rtol=1e-4, atol=1e-5, err_msg=name)


def test_rows_no_batch_touched_keep_their_initial_values():
    loop = settings("adam")
    block = build_block(Architecture(NUM_USERS, NUM_ITEMS, 8), loop, [mx.cpu()])
    before = block.user_embeddings.weight.data().asnumpy()
    trainer = make_trainer(block, loop)
    steps = GatheredSteps(block, trainer, mx.cpu())
    steps.start_epoch(ratings(), BATCH)
    steps.step(0)
    touched = np.unique(ratings().users[:BATCH])
    untouched = np.setdiff1d(np.arange(NUM_USERS), touched)
    after = block.user_embeddings.weight.data().asnumpy()
    np.testing.assert_array_equal(after[untouched], before[untouched])
    assert not np.allclose(after[touched], before[touched])


def test_one_device_without_kvstore_trains_on_gathered_rows():
    loop = settings("adam")
    block = build_block(Architecture(NUM_USERS, NUM_ITEMS, 8), loop, [mx.cpu()])
    assert isinstance(make_steps(block, make_trainer(block, loop), [mx.cpu()]), GatheredSteps)
    assert isinstance(make_steps(block, make_trainer(block, loop), [mx.cpu()], dist_step_size=64), ReplicatedSteps)


def test_gathered_training_resumes_from_a_checkpoint_exactly(tmp_path):
    loop = settings("adam")
    uninterrupted, *_ = trained(GatheredSteps, loop, True)

    first, trainer, _, _ = trained(GatheredSteps, loop, True, num_batches=3)
    checkpoints.save_checkpoint(tmp_path, first, trainer, {"step": 3})
    block = build_block(Architecture(NUM_USERS, NUM_ITEMS, 8), loop, [mx.cpu()], global_mean=3.0)
    trainer = make_trainer(block, loop)
    steps = GatheredSteps(block, trainer, mx.cpu())
    checkpoints.load_checkpoint(tmp_path, block, trainer, [mx.cpu()])
    for b in range(3, steps.start_epoch(ratings(), BATCH)):
        steps.step(b)
    expected = parameters(uninterrupted)
    for name, value in parameters(block).items():
        np.testing.assert_array_equal(value, expected[name], err_msg=name)
