"""An epoch's batches for GatheredMFBlock, planned in one pass before the epoch starts.

For every batch: its distinct user and item ids and each rating's position among them.
The plan is uploaded to MXNet once per epoch; a batch is then a set of slices (views, no copy),
so the loop never waits for a host-to-engine copy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mxnet as mx
import numpy as np


@dataclass(frozen=True)
class RowPlan:
    """Batch b's distinct ids are rows[starts[b]:starts[b + 1]]; rating i of the epoch is row
    positions[i] of its batch's ids."""

    rows: np.ndarray
    starts: np.ndarray
    positions: np.ndarray


def plan_rows(ids: np.ndarray, batch_size: int) -> RowPlan:
    """The distinct ids of each batch of `batch_size` consecutive ratings, found with a scratch
    table instead of a sort (O(batch) per batch). Of an id's occurrences in a batch, the one whose
    position the scratch table keeps represents it; the rows come in the order of these."""
    scratch = np.zeros(int(ids.max(initial=-1)) + 1, dtype=np.int64)
    rows, positions, counts = [], [], [0]
    for start in range(0, len(ids), batch_size):
        batch = ids[start:start + batch_size]
        here = np.arange(len(batch))
        scratch[batch] = here
        first = scratch[batch]
        is_first = first == here
        rows.append(batch[is_first])
        positions.append((np.cumsum(is_first) - 1)[first])
        counts.append(len(rows[-1]))
    return RowPlan(
        rows=np.concatenate(rows).astype(np.int32) if rows else np.zeros(0, np.int32),
        starts=np.cumsum(counts),
        positions=np.concatenate(positions).astype(np.int32) if positions else np.zeros(0, np.int32),
    )


@dataclass(frozen=True)
class GatheredBatch:
    rows: dict
    positions: dict
    ratings: mx.nd.NDArray

    @property
    def size(self) -> int:
        return self.ratings.shape[0]


class EpochBatches:
    """Batch b of an epoch whose ratings come in the given (shuffled) order."""

    def __init__(self, users: np.ndarray, items: np.ndarray, ratings: np.ndarray, batch_size: int, ctx) -> None:
        self.batch_size = batch_size
        self.total = len(ratings)
        plans = {"users": plan_rows(users, batch_size), "items": plan_rows(items, batch_size)}
        self._starts = {side: plan.starts for side, plan in plans.items()}
        self._rows = {side: mx.nd.array(plan.rows, ctx=ctx, dtype=np.int32) for side, plan in plans.items()}
        self._positions = {side: mx.nd.array(plan.positions, ctx=ctx, dtype=np.int32) for side, plan in plans.items()}
        self._ratings = mx.nd.array(ratings, ctx=ctx, dtype=np.float32)

    def __len__(self) -> int:
        return math.ceil(self.total / self.batch_size)

    def __getitem__(self, b: int) -> GatheredBatch:
        ratings = slice(b * self.batch_size, min((b + 1) * self.batch_size, self.total))
        return GatheredBatch(
            rows={side: self._rows[side][int(starts[b]):int(starts[b + 1])] for side, starts in self._starts.items()},
            positions={side: positions[ratings] for side, positions in self._positions.items()},
            ratings=self._ratings[ratings],
        )
