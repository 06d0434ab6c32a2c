"""How one batch is trained. The loop (mfrec.training) asks for an epoch's batches with
start_epoch and trains batch b with step(b), which returns the batch's summed squared error
as an NDArray (never read back here, so Python can queue the next batch while MXNet works).

GatheredSteps (one device, no dist kvstore) runs the network on each batch's distinct rows and
updates only those rows; ReplicatedSteps is Gluon's own data-parallel path. Both reach the same
parameters (tests/test_steps.py).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import mxnet as mx
from mxnet import autograd, gluon

from mfrec import optimizers
from mfrec.batches import EpochBatches
from mfrec.model import GatheredMFBlock, MFBlock

if TYPE_CHECKING:
    from mfrec.training import RatingArrays


def make_steps(block: MFBlock, trainer: gluon.Trainer, contexts: list, dist_step_size: int | None = None):
    """How a batch is trained: on one device without a dist kvstore, on gathered rows;
    otherwise Gluon's replicated path, whose kvstore sums the devices' and hosts' gradients.
    dist_step_size: the global batch size a dist kvstore scales every step by."""
    if len(contexts) == 1 and dist_step_size is None:
        return GatheredSteps(block, trainer, contexts[0])
    return ReplicatedSteps(block, trainer, contexts, dist_step_size)


class GatheredSteps:
    """GatheredMFBlock on each batch's distinct rows. The trainer updates the Dense layer and the
    global bias; the embedding tables (grad_req null, so the trainer skips them) are updated
    row by row with the trainer's optimizer and state."""

    def __init__(self, block: MFBlock, trainer: gluon.Trainer, ctx) -> None:
        self.block, self.trainer, self.ctx = block, trainer, ctx
        self.head = GatheredMFBlock(block)
        self.head.hybridize(static_alloc=True, static_shape=False)
        self.tables = [(trainer._param2idx[param.name], param, side) for param, side in block.row_tables()]
        for _, param, _ in self.tables:
            param.grad_req = "null"
        self.loss_fn = gluon.loss.L2Loss()
        self.batches = None

    def start_epoch(self, ratings: RatingArrays, batch_size: int) -> int:
        self.batches = None  # the last epoch's plan goes before the next one is built
        self.batches = EpochBatches(ratings.users, ratings.items, ratings.ratings, batch_size, self.ctx)
        return len(self.batches)

    def step(self, b: int):
        batch = self.batches[b]
        weights = [param.data(self.ctx) for _, param, _ in self.tables]
        gathered = [mx.nd.take(weight, batch.rows[side]) for weight, (_, _, side) in zip(weights, self.tables)]
        # grad_req "write": the backward pass fills these buffers, so unlike attach_grad they
        # need no zero fill first.
        autograd.mark_variables(gathered, [mx.nd.empty(rows.shape, ctx=self.ctx) for rows in gathered], "write")
        with autograd.record():
            predictions = self.head(gathered[0], batch.positions["users"], gathered[1], batch.positions["items"], *gathered[2:])
            loss = self.loss_fn(predictions, batch.ratings)
        loss.backward()
        self.trainer.step(batch.size)
        for weight, rows, (index, _, side) in zip(weights, gathered, self.tables):
            optimizers.update_trainer_rows(self.trainer, index, weight, batch.rows[side], rows, rows.grad)
        return loss.sum() * 2


class ReplicatedSteps:
    """MFBlock on every device's share of the batch; the trainer's kvstore sums the gradients."""

    def __init__(self, block: MFBlock, trainer: gluon.Trainer, contexts: list, dist_step_size: int | None = None) -> None:
        self.block, self.trainer, self.contexts = block, trainer, contexts
        self.step_size = dist_step_size
        self.loss_fn = gluon.loss.L2Loss()
        self.batch_size = 0
        self.arrays = ()

    def start_epoch(self, ratings: RatingArrays, batch_size: int) -> int:
        self.batch_size = batch_size
        self.arrays = tuple(mx.nd.array(a, dtype=a.dtype) for a in (ratings.users, ratings.items, ratings.ratings))
        return math.ceil(len(ratings) / batch_size)

    def step(self, b: int):
        sl = slice(b * self.batch_size, min((b + 1) * self.batch_size, self.arrays[0].shape[0]))
        users, items, ratings = (a[sl] for a in self.arrays)
        parts = [gluon.utils.split_and_load(x, self.contexts, even_split=False) for x in (users, items, ratings)]
        with autograd.record():
            losses = [self.loss_fn(self.block(u, i), r) for u, i, r in zip(*parts)]
        for loss in losses:
            loss.backward()
        self.trainer.step(self.step_size or users.shape[0])
        return sum(loss.sum().as_in_context(self.contexts[0]) for loss in losses) * 2
