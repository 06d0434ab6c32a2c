"""Training checkpoints: resume equals uninterrupted training, atomic replacement, no pickle."""

from __future__ import annotations

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon

from mfrec import checkpoints
from mfrec.model import Architecture, MFBlock


def make_block(seed=0) -> MFBlock:
    mx.random.seed(seed)
    block = MFBlock(Architecture(3, 4, num_embeddings=6))
    block.initialize(mx.init.Normal(0.5), ctx=mx.cpu())
    return block


def train_step(block: MFBlock, trainer: gluon.Trainer, seed: int) -> None:
    rng = np.random.default_rng(seed)
    users, items = mx.nd.array(rng.integers(0, 3, 8)), mx.nd.array(rng.integers(0, 4, 8))
    ratings = mx.nd.array(rng.uniform(1, 5, 8))
    with autograd.record():
        loss = ((block(users, items) - ratings) ** 2).mean()
    loss.backward()
    trainer.step(1)


def make_trainer(block: MFBlock, kvstore) -> gluon.Trainer:
    return gluon.Trainer(block.collect_params(), "adam", {"learning_rate": 0.05, "wd": 1e-3}, kvstore=kvstore)


def parameters(block: MFBlock) -> dict[str, np.ndarray]:
    return {name: p.data().asnumpy() for name, p in block._collect_params_with_prefix().items()}


@pytest.mark.parametrize("kvstore", [None, "device"])
def test_checkpoint_resume_equals_uninterrupted_training(tmp_path, kvstore):
    block = make_block(seed=1)
    trainer = make_trainer(block, kvstore)
    for step in range(3):
        train_step(block, trainer, seed=step)
    checkpoints.save_checkpoint(tmp_path, block, trainer, {"epoch": 2, "next_batch": 0, "fingerprint": "abc"})
    for step in range(3, 5):
        train_step(block, trainer, seed=step)

    resumed = make_block(seed=99)
    resumed_trainer = make_trainer(resumed, kvstore)
    checkpoints.load_checkpoint(tmp_path, resumed, resumed_trainer, mx.cpu())
    for step in range(3, 5):
        train_step(resumed, resumed_trainer, seed=step)

    expected, actual = parameters(block), parameters(resumed)
    assert expected.keys() == actual.keys()
    for name in expected:
        np.testing.assert_allclose(actual[name], expected[name], rtol=1e-6, atol=1e-7, err_msg=name)


def test_resume_without_optimizer_state_would_differ(tmp_path):
    """Guards the test above: Adam's moments and step count change the next step."""
    block = make_block(seed=1)
    trainer = make_trainer(block, None)
    for step in range(3):
        train_step(block, trainer, seed=step)
    block.save_parameters(str(tmp_path / "only.params"))
    train_step(block, trainer, seed=3)

    resumed = make_block(seed=99)
    resumed.load_parameters(str(tmp_path / "only.params"))
    train_step(resumed, make_trainer(resumed, None), seed=3)
    assert not np.allclose(parameters(resumed)["dense.weight"], parameters(block)["dense.weight"], rtol=1e-4)


def test_checkpoint_state_round_trip(tmp_path):
    assert checkpoints.read_checkpoint_state(tmp_path) is None
    block = make_block()
    trainer = make_trainer(block, None)
    train_step(block, trainer, seed=0)
    state = {"epoch": 4, "next_batch": 17, "best_mse": 0.81, "history": [{"epoch": 1, "train_mse": 1.5}]}
    checkpoints.save_checkpoint(tmp_path / "ckpt", block, trainer, state)
    assert checkpoints.read_checkpoint_state(tmp_path / "ckpt") == state
    assert sorted(p.name for p in (tmp_path / "ckpt" / "current").iterdir()) == [
        "model.params", "optimizer.nd", "state.json",
    ]


def test_checkpoint_files_hold_no_pickle(tmp_path):
    block = make_block()
    trainer = make_trainer(block, None)
    train_step(block, trainer, seed=0)
    checkpoints.save_checkpoint(tmp_path, block, trainer, {"epoch": 1})
    for path in (tmp_path / "current").iterdir():
        assert b"\x80\x04" not in path.read_bytes()[:2] and not path.read_bytes().startswith(b"\x80"), path


def test_an_interrupted_swap_still_leaves_the_previous_checkpoint(tmp_path):
    block = make_block()
    trainer = make_trainer(block, None)
    checkpoints.save_checkpoint(tmp_path, block, trainer, {"epoch": 1})
    (tmp_path / "current").rename(tmp_path / ".previous")  # killed between the two renames
    assert checkpoints.read_checkpoint_state(tmp_path) == {"epoch": 1}


def test_a_later_checkpoint_replaces_the_earlier_one(tmp_path):
    block = make_block()
    trainer = make_trainer(block, None)
    checkpoints.save_checkpoint(tmp_path, block, trainer, {"epoch": 1})
    train_step(block, trainer, seed=0)
    checkpoints.save_checkpoint(tmp_path, block, trainer, {"epoch": 2})
    assert checkpoints.read_checkpoint_state(tmp_path) == {"epoch": 2}
    restored = make_block(seed=5)
    checkpoints.load_checkpoint(tmp_path, restored, make_trainer(restored, None), mx.cpu())
    for name, value in parameters(block).items():
        np.testing.assert_array_equal(parameters(restored)[name], value, err_msg=name)


