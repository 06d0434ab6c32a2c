"""Epoch batch plans: each batch's distinct ids and every rating's position among them."""

from __future__ import annotations

import mxnet as mx
import numpy as np

from mfrec.batches import EpochBatches, plan_rows


def test_each_batch_lists_its_distinct_ids_once_and_positions_point_back_to_them():
    ids = np.array([4, 2, 4, 4, 9, 2, 2, 0, 9, 9, 9], dtype=np.int32)
    plan = plan_rows(ids, batch_size=4)
    assert list(plan.starts) == [0, 2, 5, 6]
    for b, start in enumerate(range(0, len(ids), 4)):
        rows = plan.rows[plan.starts[b]:plan.starts[b + 1]]
        batch = ids[start:start + 4]
        assert sorted(rows) == sorted(set(batch))
        np.testing.assert_array_equal(rows[plan.positions[start:start + 4]], batch)


def test_a_large_random_plan_reconstructs_every_batch():
    ids = np.random.default_rng(0).zipf(1.5, 10_000).astype(np.int64) % 5_000
    plan = plan_rows(ids, batch_size=512)
    assert len(plan.starts) == 1 + int(np.ceil(len(ids) / 512))
    for b, start in enumerate(range(0, len(ids), 512)):
        rows = plan.rows[plan.starts[b]:plan.starts[b + 1]]
        assert len(rows) == len(np.unique(ids[start:start + 512]))
        np.testing.assert_array_equal(rows[plan.positions[start:start + 512]], ids[start:start + 512])


def test_no_ratings_give_an_empty_plan():
    plan = plan_rows(np.zeros(0, dtype=np.int32), batch_size=8)
    assert len(plan.rows) == 0 and list(plan.starts) == [0]


def test_epoch_batches_slice_ids_positions_and_ratings_including_a_short_last_batch():
    users = np.array([1, 1, 3, 0, 3], dtype=np.int32)
    items = np.array([2, 5, 2, 2, 7], dtype=np.int32)
    ratings = np.arange(1, 6, dtype=np.float32)
    batches = EpochBatches(users, items, ratings, batch_size=3, ctx=mx.cpu())
    assert len(batches) == 2
    last = batches[1]
    assert last.size == 2
    np.testing.assert_array_equal(last.ratings.asnumpy(), [4, 5])
    for side, ids in (("users", users[3:]), ("items", items[3:])):
        rows = last.rows[side].asnumpy()
        np.testing.assert_array_equal(rows[last.positions[side].asnumpy()], ids)
