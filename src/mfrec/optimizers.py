"""Optimizer updates that cost the rows a batch touches, not the whole table.

MXNet 1.9's lazy adam/sgd kernels for a dense weight with a row_sparse gradient still walk
every row of the table (measured: 2.5-13 ms per 150K x 64 table per step, about the cost of the
whole forward and backward pass). `update_rows` gathers the touched rows of the weight and of
every optimizer state, runs the optimizer's ordinary dense update on them and copies them back
with index_copy: MXNet's lazy_update semantics, at O(batch) cost, for any optimizer whose update
is elementwise (all of those `create` offers).
"""

from __future__ import annotations

import mxnet as mx
from mxnet import optimizer as mxopt

# No mxnet.gluon import: a dist kvstore's parameter servers unpickle these classes while
# `import mxnet` is still running, where importing gluon fails.


def update_rows(optimizer: mxopt.Optimizer, index: int, weight, rows, weight_rows, grad_rows, state) -> None:
    """Apply `optimizer` to weight[rows] (already gathered as weight_rows) and to the same rows of
    its state; rows must be distinct."""
    parts = _state_parts(state)
    state_rows = [mx.nd.take(part, rows) for part in parts]
    optimizer.update(index, weight_rows, grad_rows, _with_parts(state, state_rows))
    for array, value in zip((weight, *parts), (weight_rows, *state_rows)):
        mx.nd.contrib.index_copy(array, rows, value, out=array)


def update_trainer_rows(trainer, index: int, weight, rows, weight_rows, grad_rows) -> None:
    """update_rows with the state the trainer keeps for its parameter `index` (created on first
    use, as Gluon's Updater does, so checkpoints save it with the others). Call after
    trainer.step, which sets the optimizer's rescale_grad for the batch."""
    updater = trainer._updaters[0]
    if index not in updater.states:
        updater.states[index] = updater.optimizer.create_state_multi_precision(index, weight)
        updater.states_synced[index] = True
    update_rows(updater.optimizer, index, weight, rows, weight_rows, grad_rows, updater.states[index])


def _state_parts(state) -> list:
    if state is None:
        return []
    if isinstance(state, (tuple, list)):
        return [part for part in state if part is not None]
    return [state]


def _with_parts(state, parts: list):
    """`state` with each NDArray replaced, in order, by the matching item of `parts`."""
    if state is None:
        return None
    if not isinstance(state, (tuple, list)):
        return parts[0]
    replacements = iter(parts)
    return type(state)(None if part is None else next(replacements) for part in state)


class RowSparseUpdates:
    """Mixin: a row_sparse gradient updates only its rows (weight decay included).

    Overrides update_multi_precision, the method Gluon's Updater calls (SGD's own version
    skips `update`, and passes lists when it aggregates)."""

    def update_multi_precision(self, index, weight, grad, state):
        if isinstance(index, (tuple, list)):
            for arguments in zip(index, weight, grad, state):
                self.update_multi_precision(*arguments)
        elif grad.stype == "row_sparse":
            rows = grad.indices
            update_rows(self, index, weight, rows, mx.nd.take(weight, rows), grad.data, state)
        else:
            super().update_multi_precision(index, weight, grad, state)


class RowSparseAdam(RowSparseUpdates, mxopt.Adam):
    pass


class RowSparseSGD(RowSparseUpdates, mxopt.SGD):
    pass


class RowSparseNAG(RowSparseUpdates, mxopt.NAG):
    pass


class RowSparseRMSProp(RowSparseUpdates, mxopt.RMSProp):
    pass


class RowSparseFtrl(RowSparseUpdates, mxopt.Ftrl):
    pass


ROW_SPARSE = {"adam": RowSparseAdam, "sgd": RowSparseSGD, "nag": RowSparseNAG, "rmsprop": RowSparseRMSProp, "ftrl": RowSparseFtrl}


def create(name: str, **options) -> mxopt.Optimizer:
    """The optimizer called `name`, row-sparse aware where this module has a version of it."""
    if name in ROW_SPARSE:
        return ROW_SPARSE[name](**options)
    return mxopt.create(name, **options)
