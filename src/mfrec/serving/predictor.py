"""Numpy scoring on precomputed factors: rating pairs, top-K recommendations, similar products.

No MXNet here: the factors are computed once (before gunicorn forks) and only read afterwards,
so a Predictor is safe to share between forked workers and between threads.

Fallbacks for ids the model never saw (never mapped to another id):
- known customer, known product: the model's rating;
- unknown customer, known product: the product's mean training rating ("product_mean");
- known customer, unknown product: global mean + the customer's learned bias ("customer_bias");
- both unknown: the global mean training rating ("global_mean").
Top-K for an unknown customer: the most reviewed products (ties: higher mean rating), scored by
their mean rating ("popular"). Similar products for an unknown product: an empty list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from mfrec.errors import ModelFormatError

MODEL, PRODUCT_MEAN, CUSTOMER_BIAS, GLOBAL_MEAN = 0, 1, 2, 3
FALLBACK_NAMES = (None, "product_mean", "customer_bias", "global_mean")
POPULAR = "popular"
NO_VECTOR = "no_vector"
ROWS_PER_CHUNK = 256


@dataclass(frozen=True)
class ModelTables:
    """Everything serving reads, as numpy arrays (plus the two id maps)."""

    user_vectors: np.ndarray
    item_vectors: np.ndarray
    user_bias: np.ndarray
    item_bias: np.ndarray
    global_bias: float
    customers: Any
    products: Any
    product_count: np.ndarray
    product_mean: np.ndarray
    product_title: np.ndarray
    history_indptr: np.ndarray
    history_indices: np.ndarray
    global_mean: float
    rating_range: tuple[float, float]

    @classmethod
    def from_loaded_model(cls, loaded) -> "ModelTables":
        factors = loaded.block.factors()
        for id_map in (loaded.customers, loaded.products):
            id_map.positions()  # built before gunicorn forks, shared by the workers
        return cls(
            user_vectors=factors.user_vectors,
            item_vectors=factors.item_vectors,
            user_bias=factors.user_bias,
            item_bias=factors.item_bias,
            global_bias=float(factors.global_bias),
            customers=loaded.customers,
            products=loaded.products,
            product_count=loaded.product_count,
            product_mean=loaded.product_mean,
            product_title=loaded.product_title,
            history_indptr=loaded.history_indptr,
            history_indices=loaded.history_indices,
            global_mean=float(loaded.global_mean),
            rating_range=(float(loaded.rating_range[0]), float(loaded.rating_range[1])),
        )

    def check_consistent(self) -> None:
        """Raise ModelFormatError unless every array agrees with the id maps."""
        users, items = len(self.customers), len(self.products)
        expected = {
            "user_vectors rows": (self.user_vectors.shape[0], users),
            "user_bias": (self.user_bias.shape[0], users),
            "item_vectors rows": (self.item_vectors.shape[0], items),
            "item_bias": (self.item_bias.shape[0], items),
            "product count": (self.product_count.shape[0], items),
            "product mean_rating": (self.product_mean.shape[0], items),
            "product title": (self.product_title.shape[0], items),
            "history indptr": (self.history_indptr.shape[0], users + 1),
        }
        for name, (got, want) in expected.items():
            if got != want:
                raise ModelFormatError(f"model dir is inconsistent: {name} has {got} entries, expected {want}")
        if self.user_vectors.shape[1] != self.item_vectors.shape[1]:
            raise ModelFormatError("model dir is inconsistent: user and item vectors differ in width")
        _check_history(self.history_indptr, self.history_indices, items)
        low, high = self.rating_range
        if not (np.isfinite(low) and np.isfinite(high) and low < high):
            raise ModelFormatError(f"model dir has an invalid rating_range {self.rating_range}")
        for name in ("user_vectors", "item_vectors", "user_bias", "item_bias"):
            if not np.all(np.isfinite(getattr(self, name))):
                raise ModelFormatError(f"model has non-finite values in {name}")


def _check_history(indptr: np.ndarray, indices: np.ndarray, items: int) -> None:
    if indptr[0] != 0 or indptr[-1] != indices.shape[0] or np.any(np.diff(indptr) < 0):
        raise ModelFormatError("model dir is inconsistent: history.npz indptr is not a valid CSR index")
    if indices.size and (indices.min() < 0 or indices.max() >= items):
        raise ModelFormatError("model dir is inconsistent: history.npz refers to unknown products")


@dataclass(frozen=True)
class PairScores:
    ratings: np.ndarray
    fallback: np.ndarray
    unknown_customer_ids: tuple[str, ...]
    unknown_product_ids: tuple[str, ...]

    @property
    def unknown(self) -> np.ndarray:
        return self.fallback != MODEL


@dataclass(frozen=True)
class Ranking:
    query_id: str
    known: bool
    product_ids: list[str]
    titles: list[str]
    scores: np.ndarray
    fallback: str | None = None


@dataclass(frozen=True)
class _Precomputed:
    item_offset: np.ndarray
    unit_items: np.ndarray
    has_vector: np.ndarray
    popular_order: np.ndarray


@dataclass(frozen=True)
class Predictor:
    tables: ModelTables
    clip: bool = True
    _pre: _Precomputed = field(init=False, repr=False)

    def __post_init__(self):
        self.tables.check_consistent()
        object.__setattr__(self, "_pre", _precompute(self.tables))

    @property
    def num_products(self) -> int:
        return len(self.tables.products)

    def is_ready(self) -> bool:
        return self.num_products > 0 and len(self.tables.customers) > 0

    def score_pairs(self, customer_ids: Sequence[str], product_ids: Sequence[str]) -> PairScores:
        users = self.tables.customers.to_index(customer_ids)
        items = self.tables.products.to_index(product_ids)
        if users.min(initial=0) >= 0 and items.min(initial=0) >= 0:
            ratings = self._model_ratings(users, items)
            return PairScores(self._clipped(ratings), np.zeros(len(users), dtype=np.int8), (), ())
        ratings = np.full(len(users), self.tables.global_mean, dtype=np.float64)
        fallback = np.full(len(users), GLOBAL_MEAN, dtype=np.int8)
        both = (users >= 0) & (items >= 0)
        ratings[both] = self._model_ratings(users[both], items[both])
        fallback[both] = MODEL
        self._fill_fallbacks(users, items, ratings, fallback)
        return PairScores(
            ratings=self._clipped(ratings),
            fallback=fallback,
            unknown_customer_ids=_unique_at(customer_ids, users < 0),
            unknown_product_ids=_unique_at(product_ids, items < 0),
        )

    def _model_ratings(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        t = self.tables
        dot = np.einsum("ij,ij->i", t.user_vectors[users], t.item_vectors[items])
        return dot + t.user_bias[users] + self._pre.item_offset[items]

    def _fill_fallbacks(self, users, items, ratings, fallback) -> None:
        t = self.tables
        product_only = (users < 0) & (items >= 0)
        ratings[product_only] = t.product_mean[items[product_only]]
        fallback[product_only] = PRODUCT_MEAN
        customer_only = (users >= 0) & (items < 0)
        ratings[customer_only] = t.global_mean + t.user_bias[users[customer_only]]
        fallback[customer_only] = CUSTOMER_BIAS

    def top_k(self, customer_ids: Sequence[str], k: int, include_reviewed: bool = False) -> list[Ranking]:
        """The k products with the highest predicted rating for each customer."""
        users = self.tables.customers.to_index(customer_ids)
        rankings: list[Ranking | None] = [None] * len(users)
        known_rows = np.flatnonzero(users >= 0)
        for start in range(0, len(known_rows), ROWS_PER_CHUNK):
            rows = known_rows[start:start + ROWS_PER_CHUNK]
            scores = self._user_scores(users[rows], include_reviewed)
            for row, (top, top_scores) in zip(rows, _top_k_per_row(scores, k)):
                rankings[row] = self._ranking(customer_ids[row], top, self._clipped(top_scores))
        for row in np.flatnonzero(users < 0):
            rankings[row] = self._popular(customer_ids[row], k)
        return rankings

    def similar(self, product_ids: Sequence[str], k: int) -> list[Ranking]:
        """The k products whose item vectors have the highest cosine similarity to each product."""
        items = self.tables.products.to_index(product_ids)
        rankings = []
        for raw, item in zip(product_ids, items):
            if item < 0:
                rankings.append(Ranking(raw, False, [], [], np.empty(0)))
                continue
            if not self._pre.has_vector[item]:  # an all-zero vector is similar to nothing
                rankings.append(Ranking(raw, True, [], [], np.empty(0), fallback=NO_VECTOR))
                continue
            similarity = self._pre.unit_items @ self._pre.unit_items[item]
            similarity[item] = -np.inf
            (top, top_scores), = _top_k_per_row(similarity[None, :], k)
            rankings.append(self._ranking(raw, top, top_scores.astype(np.float64)))
        return rankings

    def _user_scores(self, users: np.ndarray, include_reviewed: bool) -> np.ndarray:
        t = self.tables
        scores = t.user_vectors[users] @ t.item_vectors.T
        scores += self._pre.item_offset
        scores += t.user_bias[users][:, None]
        if not include_reviewed:
            for row, user in enumerate(users):
                reviewed = t.history_indices[t.history_indptr[user]:t.history_indptr[user + 1]]
                scores[row, reviewed] = -np.inf
        return scores

    def _popular(self, raw_id: str, k: int) -> Ranking:
        top = self._pre.popular_order[:k]
        scores = self._clipped(self.tables.product_mean[top].astype(np.float64))
        return self._ranking(raw_id, top, scores, known=False, fallback=POPULAR)

    def _ranking(self, raw_id, top, scores, known=True, fallback=None) -> Ranking:
        t = self.tables
        return Ranking(
            query_id=raw_id,
            known=known,
            product_ids=list(t.products.to_raw(top)),
            titles=[str(title) for title in t.product_title[top]],
            scores=scores,
            fallback=fallback,
        )

    def _clipped(self, ratings: np.ndarray) -> np.ndarray:
        ratings = np.asarray(ratings, dtype=np.float64)
        return np.clip(ratings, *self.tables.rating_range) if self.clip else ratings


def _precompute(t: ModelTables) -> _Precomputed:
    norms = np.linalg.norm(t.item_vectors, axis=1, keepdims=True)
    unit_items = np.divide(t.item_vectors, norms, out=np.zeros_like(t.item_vectors), where=norms > 0)
    popular_order = np.lexsort((-t.product_mean, -t.product_count))
    item_offset = (t.item_bias + t.global_bias).astype(t.item_vectors.dtype)
    return _Precomputed(item_offset=item_offset, unit_items=unit_items, has_vector=norms[:, 0] > 0,
                        popular_order=popular_order)


def _top_k_per_row(scores: np.ndarray, k: int):
    """Yield (indices, scores) of the k best finite scores of each row, best first (ties: lower index)."""
    columns = scores.shape[1]
    if k < columns:
        candidates = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        candidates = np.broadcast_to(np.arange(columns), scores.shape)
    for row_scores, row_candidates in zip(scores, candidates):
        picked = row_scores[row_candidates]
        order = np.lexsort((row_candidates, -picked))
        best, best_scores = row_candidates[order], picked[order]
        finite = np.isfinite(best_scores)
        yield best[finite], best_scores[finite]


def _unique_at(raw_ids: Sequence[str], mask: np.ndarray) -> tuple[str, ...]:
    return tuple(dict.fromkeys(raw_ids[i] for i in np.flatnonzero(mask)))
