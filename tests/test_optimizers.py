"""Row-wise optimizer updates: the same numbers as MXNet's lazy kernels, touching only the batch's rows."""

from __future__ import annotations

import mxnet as mx
import numpy as np
import pytest
from mxnet import optimizer as mxopt

from mfrec import optimizers

ROWS = np.array([1, 4, 7], dtype=np.int64)


def sparse_grad(seed: int, shape=(10, 3)):
    data = np.random.default_rng(seed).normal(size=(len(ROWS), shape[1])).astype(np.float32)
    return mx.nd.sparse.row_sparse_array((mx.nd.array(data), mx.nd.array(ROWS, dtype="int64")), shape=shape)


def run(optimizer, steps: int = 3, initial: np.ndarray | None = None) -> np.ndarray:
    if initial is None:
        initial = np.random.default_rng(0).normal(size=(10, 3)).astype(np.float32)
    weight = mx.nd.array(initial)
    updater = mxopt.get_updater(optimizer)
    for step in range(steps):
        updater(0, sparse_grad(step), weight)
    return weight.asnumpy()


@pytest.mark.parametrize(("ours", "reference"), [
    (lambda: optimizers.RowSparseAdam(learning_rate=0.1, wd=0.03, rescale_grad=0.5),
     lambda: mxopt.Adam(learning_rate=0.1, wd=0.03, rescale_grad=0.5, lazy_update=True)),
    (lambda: optimizers.RowSparseSGD(learning_rate=0.1, wd=0.03, momentum=0.9),
     lambda: mxopt.SGD(learning_rate=0.1, wd=0.03, momentum=0.9, lazy_update=True)),
    (lambda: optimizers.RowSparseSGD(learning_rate=0.1, wd=0.03),
     lambda: mxopt.SGD(learning_rate=0.1, wd=0.03, lazy_update=True)),
])
def test_matches_mxnet_lazy_update(ours, reference):
    np.testing.assert_allclose(run(ours()), run(reference()), rtol=1e-5, atol=1e-6)


OPTIONS = {"adam": {}, "sgd": {"momentum": 0.9}, "nag": {"momentum": 0.9}, "rmsprop": {}, "ftrl": {}}


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_every_offered_optimizer_updates_the_touched_rows_as_a_dense_update_of_those_rows_alone(name):
    """Lazy semantics: the result equals the plain optimizer run on a table made of the touched
    rows only, and the other rows never move."""
    initial = np.random.default_rng(0).normal(size=(10, 3)).astype(np.float32)
    ours = run(optimizers.create(name, learning_rate=0.1, wd=0.03, **OPTIONS[name]))
    reference = mx.nd.array(initial[ROWS])
    updater = mxopt.get_updater(mxopt.create(name, learning_rate=0.1, wd=0.03, **OPTIONS[name]))
    for step in range(3):
        updater(0, sparse_grad(step).data, reference)
    np.testing.assert_allclose(ours[ROWS], reference.asnumpy(), rtol=1e-5, atol=1e-6)
    untouched = np.setdiff1d(np.arange(10), ROWS)
    np.testing.assert_array_equal(ours[untouched], initial[untouched])


def test_sgds_aggregated_update_lists_leave_untouched_rows_alone():
    optimizer = optimizers.create("sgd", learning_rate=0.1, momentum=0.9, wd=0.5)
    weights = [mx.nd.ones((10, 3)), mx.nd.ones((10, 3))]
    states = [optimizer.create_state(i, w) for i, w in enumerate(weights)]
    optimizer.update_multi_precision([0, 1], weights, [sparse_grad(0), sparse_grad(1)], states)
    untouched = np.setdiff1d(np.arange(10), ROWS)
    for weight in weights:
        np.testing.assert_array_equal(weight.asnumpy()[untouched], 1.0)
        assert not np.allclose(weight.asnumpy()[ROWS], 1.0)


def test_trainer_rows_use_and_keep_the_trainers_own_state():
    weight = mx.gluon.Parameter("table", shape=(10, 3), grad_req="null")
    weight.initialize(mx.init.One(), ctx=mx.cpu())
    trainer = mx.gluon.Trainer([weight], optimizers.create("adam", learning_rate=0.1))
    rows = mx.nd.array(ROWS, dtype="int64")
    for step in range(2):
        weight_rows = mx.nd.take(weight.data(), rows)
        optimizers.update_trainer_rows(trainer, 0, weight.data(), rows, weight_rows, sparse_grad(step).data)
    mean, var = trainer._updaters[0].states[0]
    assert np.abs(mean.asnumpy()[ROWS]).sum() > 0 and not mean.asnumpy()[[0, 2]].any()
    reference = run(mxopt.Adam(learning_rate=0.1, lazy_update=True), steps=2, initial=np.ones((10, 3), np.float32))
    np.testing.assert_allclose(weight.data().asnumpy(), reference, rtol=1e-5)


def test_rows_outside_the_gradient_are_untouched():
    before = mx.nd.array(np.random.default_rng(0).normal(size=(10, 3))).asnumpy()
    after = run(optimizers.RowSparseAdam(learning_rate=0.1, wd=0.5))
    untouched = np.setdiff1d(np.arange(10), ROWS)
    np.testing.assert_array_equal(after[untouched], before[untouched])
    assert not np.allclose(after[ROWS], before[ROWS])


def test_dense_gradients_take_the_ordinary_path():
    weight = mx.nd.ones((4, 2))
    updater = mxopt.get_updater(optimizers.create("adam", learning_rate=0.1))
    updater(0, mx.nd.ones((4, 2)), weight)
    assert np.all(weight.asnumpy() < 1.0)


def test_create_falls_back_to_mxnet_for_other_names():
    assert isinstance(optimizers.create("rmsprop", learning_rate=0.1), mxopt.RMSProp)
    assert isinstance(optimizers.create("adam"), optimizers.RowSparseAdam)
