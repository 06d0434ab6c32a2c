import math

import numpy as np
import pytest

from mfrec.evaluate import (
    baseline_metrics,
    factor_scorer,
    fit_baselines,
    mse,
    ranking_metrics,
    rmse,
)


def csr(histories):
    lengths = [len(h) for h in histories]
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    indices = np.array([i for h in histories for i in h], dtype=np.int32)
    return indptr, indices


def table_scorer(table):
    table = np.asarray(table, dtype=np.float32)
    return lambda users: table[users]


def test_mse_and_rmse_on_known_values():
    assert mse([1.0, 2.0, 3.0], [1.0, 4.0, 0.0]) == pytest.approx((0 + 4 + 9) / 3)
    assert rmse([0.0, 0.0], [3.0, 4.0]) == pytest.approx(math.sqrt(12.5))


def test_mse_rejects_mismatched_or_empty_input():
    with pytest.raises(ValueError):
        mse([1.0, 2.0], [1.0])
    with pytest.raises(ValueError):
        mse([], [])


def test_item_mean_baseline_is_exact_on_tiny_example():
    users = [0, 1, 2, 0]
    items = [0, 0, 1, 1]
    ratings = [5.0, 3.0, 2.0, 4.0]
    baselines = fit_baselines(users, items, ratings, num_users=3, num_items=3)
    assert baselines.global_mean == pytest.approx(3.5)
    # product 2 has no training ratings, -1 is an unknown product: both get the global mean
    np.testing.assert_allclose(baselines.predict_item_mean([0, 1, 2, -1]), [4.0, 3.0, 3.5, 3.5])
    np.testing.assert_allclose(baselines.predict_global([0, 2]), [3.5, 3.5])


def test_item_mean_shrinkage_pulls_towards_global_mean():
    baselines = fit_baselines([0, 1, 1], [0, 1, 1], [5.0, 1.0, 1.0], 2, 2, item_shrinkage=1.0)
    global_mean = 7.0 / 3.0
    np.testing.assert_allclose(
        baselines.predict_item_mean([0, 1]),
        [(5.0 + global_mean) / 2.0, (2.0 + global_mean) / 3.0],
    )


def test_bias_baseline_recovers_known_offsets():
    rng = np.random.default_rng(1)
    num_users, num_items = 60, 40
    user_offset = rng.normal(0.0, 0.5, num_users)
    item_offset = rng.normal(0.0, 0.8, num_items)
    users, items = np.meshgrid(np.arange(num_users), np.arange(num_items), indexing="ij")
    users, items = users.ravel(), items.ravel()
    ratings = 3.0 + user_offset[users] + item_offset[items]
    baselines = fit_baselines(
        users, items, ratings, num_users, num_items, item_reg=0.0, user_reg=0.0, iterations=20
    )
    np.testing.assert_allclose(baselines.predict_bias(users, items), ratings, atol=1e-6)
    centred_items = item_offset - item_offset.mean()
    np.testing.assert_allclose(baselines.item_bias - baselines.item_bias.mean(), centred_items, atol=1e-6)


def test_bias_regularisation_shrinks_rarely_rated_products():
    # product 0 rated 5 once, product 1 rated 5 by all 20 customers; the rest are rated 1
    users = np.concatenate([[0], np.arange(20), np.arange(20)])
    items = np.concatenate([[0], np.ones(20, dtype=int), np.full(20, 2)])
    ratings = np.concatenate([[5.0], np.full(20, 5.0), np.full(20, 1.0)])
    baselines = fit_baselines(users, items, ratings, 20, 3)
    assert 0 < baselines.item_bias[0] < baselines.item_bias[1]
    assert baselines.item_bias[2] < 0


def test_baseline_metrics_ranks_the_better_baseline_first():
    rng = np.random.default_rng(2)
    num_users, num_items, n = 200, 50, 6000
    users = rng.integers(0, num_users, n)
    items = rng.integers(0, num_items, n)
    item_offset = rng.normal(0.0, 1.0, num_items)
    user_offset = rng.normal(0.0, 0.7, num_users)
    ratings = 3.0 + item_offset[items] + user_offset[users] + rng.normal(0.0, 0.3, n)
    baselines = fit_baselines(users[:5000], items[:5000], ratings[:5000], num_users, num_items)
    metrics = baseline_metrics(baselines, users[5000:], items[5000:], ratings[5000:])
    assert set(metrics) == {"global_mean", "item_mean", "bias"}
    assert metrics["bias"]["mse"] < metrics["item_mean"]["mse"] < metrics["global_mean"]["mse"]
    assert metrics["bias"]["rmse"] == pytest.approx(math.sqrt(metrics["bias"]["mse"]))


def test_fit_baselines_rejects_out_of_range_indices():
    with pytest.raises(ValueError):
        fit_baselines([0, 3], [0, 0], [1.0, 2.0], num_users=3, num_items=1)
    with pytest.raises(ValueError):
        fit_baselines([0, -1], [0, 0], [1.0, 2.0], num_users=3, num_items=1)


def test_ranking_hits_and_ndcg_at_known_positions():
    scores = [
        [9, 8, 7, 6, 5, 4],  # held-out product 0 ranks 0
        [9, 8, 7, 6, 5, 4],  # held-out product 2 ranks 2
        [9, 8, 7, 6, 5, 4],  # held-out product 5 ranks 5
    ]
    indptr, indices = csr([[], [], []])
    metrics = ranking_metrics(
        table_scorer(scores), [0, 1, 2], [0, 2, 5], indptr, indices, num_items=6, k=3
    )
    assert metrics["hr@3"] == pytest.approx(2 / 3)
    assert metrics["ndcg@3"] == pytest.approx((1.0 + 1.0 / math.log2(4)) / 3)
    assert metrics["users_evaluated"] == 3


def test_ranking_excludes_training_products_but_not_the_held_out_one():
    scores = [[9, 8, 7, 6, 5, 4]]
    # products 0 and 1 were reviewed in training, and so was the held-out product 3
    indptr, indices = csr([[0, 1, 3]])
    metrics = ranking_metrics(table_scorer(scores), [0], [3], indptr, indices, num_items=6, k=2)
    assert metrics["hr@2"] == 1.0  # rank 1: only product 2 is ahead
    assert metrics["ndcg@2"] == pytest.approx(1.0 / math.log2(3))


def test_ranking_counts_ties_ahead():
    indptr, indices = csr([[]])
    constant = [[1.0] * 20]
    metrics = ranking_metrics(table_scorer(constant), [0], [7], indptr, indices, num_items=20, k=10)
    assert metrics["hr@10"] == 0.0


def test_ranking_treats_nan_held_out_score_as_a_miss():
    indptr, indices = csr([[]])
    scores = [[np.nan, 1.0, 2.0]]
    metrics = ranking_metrics(table_scorer(scores), [0], [0], indptr, indices, num_items=3, k=3)
    assert metrics["hr@3"] == 0.0


def test_ranking_blocks_and_sampling_agree_with_full_evaluation():
    rng = np.random.default_rng(3)
    num_users, num_items = 300, 80
    table = rng.normal(size=(num_users, num_items))
    histories = [list(rng.choice(num_items, size=rng.integers(0, 10), replace=False)) for _ in range(num_users)]
    indptr, indices = csr(histories)
    held_out = rng.integers(0, num_items, num_users)
    users = np.arange(num_users)
    whole = ranking_metrics(table_scorer(table), users, held_out, indptr, indices, num_items, block_size=1000)
    blocked = ranking_metrics(table_scorer(table), users, held_out, indptr, indices, num_items, block_size=7)
    assert blocked == pytest.approx(whole)
    sample_a = ranking_metrics(table_scorer(table), users, held_out, indptr, indices, num_items, max_users=50, seed=4)
    sample_b = ranking_metrics(table_scorer(table), users, held_out, indptr, indices, num_items, max_users=50, seed=4)
    assert sample_a == sample_b
    assert sample_a["users_evaluated"] == 50


def test_ranking_matches_a_direct_per_user_computation():
    rng = np.random.default_rng(5)
    num_users, num_items = 40, 30
    table = rng.integers(0, 5, size=(num_users, num_items)).astype(np.float32)  # many ties
    histories = [list(rng.choice(num_items, size=5, replace=False)) for _ in range(num_users)]
    indptr, indices = csr(histories)
    held_out = rng.integers(0, num_items, num_users)
    expected_gain = []
    for user in range(num_users):
        target = table[user, held_out[user]]
        others = [i for i in range(num_items) if i != held_out[user] and i not in histories[user]]
        rank = sum(table[user, i] >= target for i in others)
        expected_gain.append(1.0 / math.log2(rank + 2) if rank < 10 else 0.0)
    metrics = ranking_metrics(table_scorer(table), np.arange(num_users), held_out, indptr, indices, num_items, block_size=16)
    assert metrics["ndcg@10"] == pytest.approx(np.mean(expected_gain))
    assert metrics["hr@10"] == pytest.approx(np.mean(np.array(expected_gain) > 0))


def test_factor_scorer_ranks_by_dot_product_plus_item_bias():
    user_vectors = np.array([[1.0, 0.0], [0.0, 1.0]])
    item_vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    item_bias = np.array([0.0, 0.0, 0.6])
    scores = factor_scorer(user_vectors, item_vectors, item_bias)(np.array([1, 0]))
    np.testing.assert_allclose(scores, [[0.0, 1.0, 1.1], [1.0, 0.0, 1.1]], rtol=1e-6)
    assert scores.dtype == np.float32


def test_ranking_rejects_bad_input():
    indptr, indices = csr([[]])
    with pytest.raises(ValueError):
        ranking_metrics(table_scorer([[1.0, 2.0]]), [0], [2], indptr, indices, num_items=2)
    with pytest.raises(ValueError):
        ranking_metrics(table_scorer([[1.0, 2.0]]), [0], [0], indptr, indices, num_items=3)
    with pytest.raises(ValueError):
        ranking_metrics(table_scorer([[1.0, 2.0]]), [], [], indptr, indices, num_items=2)
