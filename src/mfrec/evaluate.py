"""Evaluation: MSE/RMSE, rating baselines, and leave-one-out ranking metrics (HR@K, NDCG@K).

Everything here is numpy on index arrays (customer index 0..U-1, product index 0..I-1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

ScoreFn = Callable[[np.ndarray], np.ndarray]

DEFAULT_ITEM_REG = 10.0
DEFAULT_USER_REG = 15.0
DEFAULT_BIAS_ITERATIONS = 10
DEFAULT_RANKING_BLOCK = 512


def mse(pred, actual) -> float:
    """Mean squared error. Raises ValueError on shape mismatch or empty input."""
    pred, actual = _same_shape_float(pred, actual)
    return float(np.mean(np.square(pred - actual)))


def rmse(pred, actual) -> float:
    return float(np.sqrt(mse(pred, actual)))


def _same_shape_float(pred, actual) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    if pred.shape != actual.shape:
        raise ValueError(f"pred shape {pred.shape} != actual shape {actual.shape}")
    if pred.size == 0:
        raise ValueError("no ratings to evaluate")
    return pred, actual


@dataclass(frozen=True)
class Baselines:
    """Rating predictors fitted on training data, to compare the model against.

    An index of -1 (unknown customer/product) falls back to the global mean / zero bias.
    """

    global_mean: float
    item_mean: np.ndarray  # (I,) float64; products without training ratings hold global_mean
    user_bias: np.ndarray  # (U,) float64
    item_bias: np.ndarray  # (I,) float64

    def predict_global(self, items) -> np.ndarray:
        return np.full(np.shape(items), self.global_mean, dtype=np.float64)

    def predict_item_mean(self, items) -> np.ndarray:
        return _lookup(self.item_mean, items, self.global_mean)

    def predict_bias(self, users, items) -> np.ndarray:
        user_part = _lookup(self.user_bias, users, 0.0)
        item_part = _lookup(self.item_bias, items, 0.0)
        return self.global_mean + user_part + item_part


def _lookup(table: np.ndarray, indices, fallback: float) -> np.ndarray:
    indices = np.asarray(indices, dtype=np.int64)
    _check_indices(indices, len(table), "index", allow_unknown=True)
    known = indices >= 0
    out = np.full(indices.shape, fallback, dtype=np.float64)
    out[known] = table[indices[known]]
    return out


def _check_indices(indices: np.ndarray, size: int, name: str, allow_unknown: bool) -> None:
    if indices.size == 0:
        return
    low = -1 if allow_unknown else 0
    if indices.min() < low or indices.max() >= size:
        raise ValueError(f"{name} out of range [{low}, {size})")


def fit_baselines(
    users,
    items,
    ratings,
    num_users: int,
    num_items: int,
    item_shrinkage: float = 0.0,
    item_reg: float = DEFAULT_ITEM_REG,
    user_reg: float = DEFAULT_USER_REG,
    iterations: int = DEFAULT_BIAS_ITERATIONS,
) -> Baselines:
    """Fit the three baselines on training arrays.

    item mean: (sum + s * global_mean) / (count + s) with s = item_shrinkage; the default
    s = 0 is the plain per-product mean (a product seen once predicts its one rating).
    bias: r ~ mu + b_u + b_i by regularised alternating least squares, as Surprise's
    BaselineOnly (reg_i = 10, reg_u = 15, 10 iterations).
    """
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    ratings = np.asarray(ratings, dtype=np.float64)
    if not (users.shape == items.shape == ratings.shape) or users.ndim != 1:
        raise ValueError("users, items and ratings must be 1-D arrays of equal length")
    if ratings.size == 0:
        raise ValueError("no training ratings")
    _check_indices(users, num_users, "user index", allow_unknown=False)
    _check_indices(items, num_items, "item index", allow_unknown=False)
    global_mean = float(ratings.mean())
    item_mean = _item_means(items, ratings, num_items, global_mean, item_shrinkage)
    user_bias, item_bias = _als_biases(
        users, items, ratings - global_mean, num_users, num_items, user_reg, item_reg, iterations
    )
    return Baselines(global_mean, item_mean, user_bias, item_bias)


def _item_means(items, ratings, num_items, global_mean, shrinkage) -> np.ndarray:
    counts = np.bincount(items, minlength=num_items).astype(np.float64)
    sums = np.bincount(items, weights=ratings, minlength=num_items)
    denominator = counts + shrinkage
    means = np.full(num_items, global_mean, dtype=np.float64)
    rated = denominator > 0
    means[rated] = (sums[rated] + shrinkage * global_mean) / denominator[rated]
    return means


def _als_biases(users, items, residuals, num_users, num_items, user_reg, item_reg, iterations):
    user_count = np.bincount(users, minlength=num_users).astype(np.float64)
    item_count = np.bincount(items, minlength=num_items).astype(np.float64)
    user_bias = np.zeros(num_users, dtype=np.float64)
    item_bias = np.zeros(num_items, dtype=np.float64)
    for _ in range(iterations):
        item_dev = np.bincount(items, weights=residuals - user_bias[users], minlength=num_items)
        item_bias = item_dev / (item_reg + item_count)
        user_dev = np.bincount(users, weights=residuals - item_bias[items], minlength=num_users)
        user_bias = user_dev / (user_reg + user_count)
    return user_bias, item_bias


def baseline_metrics(baselines: Baselines, test_users, test_items, test_ratings) -> dict:
    """{"global_mean": {"mse", "rmse"}, "item_mean": {...}, "bias": {...}} on the test arrays."""
    predictions = {
        "global_mean": baselines.predict_global(test_items),
        "item_mean": baselines.predict_item_mean(test_items),
        "bias": baselines.predict_bias(test_users, test_items),
    }
    return {
        name: {"mse": mse(pred, test_ratings), "rmse": rmse(pred, test_ratings)}
        for name, pred in predictions.items()
    }


def factor_scorer(user_vectors, item_vectors, item_bias=None) -> ScoreFn:
    """score_fn for ranking_metrics from model factors.

    User bias and global bias shift all of one user's scores equally, so they cannot change
    a ranking and are left out.
    """
    user_vectors = np.asarray(user_vectors, dtype=np.float32)
    item_vectors_t = np.ascontiguousarray(np.asarray(item_vectors, dtype=np.float32).T)
    bias = None if item_bias is None else np.asarray(item_bias, dtype=np.float32)

    def score(user_indices: np.ndarray) -> np.ndarray:
        scores = user_vectors[user_indices] @ item_vectors_t
        if bias is not None:
            scores += bias
        return scores

    return score


def ranking_metrics(
    score_fn: ScoreFn,
    test_users,
    test_items,
    history_indptr,
    history_indices,
    num_items: int,
    k: int = 10,
    max_users: int | None = None,
    seed: int = 0,
    block_size: int = DEFAULT_RANKING_BLOCK,
) -> dict:
    """Leave-one-out HR@K and NDCG@K.

    Each (test_users[j], test_items[j]) is one held-out review. The held-out product is
    ranked among all products except those the customer reviewed in training (CSR history),
    which get -inf. rank = number of other products scoring >= the held-out one (0-based):
    ties count as ahead (pessimistic), so a constant scorer does not look perfect. A NaN
    score counts as -inf. HR@K = mean(rank < K); NDCG@K = mean(1/log2(rank+2) if rank < K).
    max_users: evaluate a seeded random sample of that many held-out reviews (None = all).
    """
    if k < 1:
        raise ValueError("k must be >= 1")
    test_users = np.asarray(test_users, dtype=np.int64)
    test_items = np.asarray(test_items, dtype=np.int64)
    if test_users.shape != test_items.shape or test_users.ndim != 1:
        raise ValueError("test_users and test_items must be 1-D arrays of equal length")
    indptr = np.asarray(history_indptr, dtype=np.int64)
    indices = np.asarray(history_indices, dtype=np.int64)
    _check_indices(test_users, len(indptr) - 1, "test user index", allow_unknown=False)
    _check_indices(test_items, num_items, "test item index", allow_unknown=False)
    chosen = _sample_rows(len(test_users), max_users, seed)
    if len(chosen) == 0:
        raise ValueError("no held-out reviews to rank")
    block_ranks = []
    for start in range(0, len(chosen), block_size):
        rows = chosen[start : start + block_size]
        block_ranks.append(
            _block_ranks(score_fn, test_users[rows], test_items[rows], indptr, indices, num_items)
        )
    return _summarise_ranks(np.concatenate(block_ranks), k)


def _sample_rows(count: int, max_users: int | None, seed: int) -> np.ndarray:
    if max_users is None or max_users >= count:
        return np.arange(count)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(count, size=max_users, replace=False))


def _block_ranks(score_fn, users, items, indptr, indices, num_items) -> np.ndarray:
    scores = np.asarray(score_fn(users), dtype=np.float32)
    if scores.shape != (len(users), num_items):
        raise ValueError(f"score_fn returned shape {scores.shape}, expected {(len(users), num_items)}")
    rows = np.arange(len(users))
    target = scores[rows, items]
    target = np.where(np.isnan(target), np.float32(-np.inf), target)
    # Others are counted without modifying scores: all products >= target, minus the held-out
    # product itself, minus the customer's training products >= target. NaN compares False.
    ahead = np.count_nonzero(scores >= target[:, None], axis=1) - 1
    history_rows, history_items = _excluded_pairs(users, items, indptr, indices, num_items)
    excluded_ahead = scores[history_rows, history_items] >= target[history_rows]
    ahead -= np.bincount(history_rows[excluded_ahead], minlength=len(users))
    return np.where(np.isneginf(target), num_items, ahead)


def _excluded_pairs(users, items, indptr, indices, num_items):
    """Unique (block row, product) pairs of training history, without the held-out product."""
    starts, ends = indptr[users], indptr[users + 1]
    history_rows = np.repeat(np.arange(len(users)), ends - starts)
    history_items = indices[_ranges(starts, ends)]
    keep = history_items != items[history_rows]
    pair_keys = np.unique(history_rows[keep] * num_items + history_items[keep])
    return pair_keys // num_items, pair_keys % num_items


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, e) for each pair, vectorised."""
    lengths = ends - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    return offsets + np.arange(total)


def _summarise_ranks(ranks: np.ndarray, k: int) -> dict:
    hits = ranks < k
    gains = np.where(hits, 1.0 / np.log2(np.minimum(ranks, k) + 2.0), 0.0)
    return {
        f"hr@{k}": float(hits.mean()),
        f"ndcg@{k}": float(gains.mean()),
        "users_evaluated": int(len(ranks)),
    }
