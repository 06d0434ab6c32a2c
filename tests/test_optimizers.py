"""Row-sparse optimizers: the same numbers as MXNet's lazy kernels, touching only the batch's rows."""

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


def run(optimizer, steps: int = 3) -> np.ndarray:
    weight = mx.nd.array(np.random.default_rng(0).normal(size=(10, 3)))
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
