"""Pure, vectorised preparation of a standard-column frame: filter, split, per-product stats.

Frames have the standard columns of docs/design.md (customer_id, product_id, star_rating,
product_title, review_date, row). Functions never modify their input; row order is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Counts:
    rows: int
    customers: int
    products: int


@dataclass(frozen=True)
class FilterResult:
    """The filtered frame and the sizes before/after (for logging and model metadata)."""

    frame: pd.DataFrame
    before: Counts
    after: Counts
    iterations: int


@dataclass(frozen=True)
class LastReviewSplit:
    """Train/test split; unpacks as `train, test = split_last_review(frame)`.

    unseen_product_rows: last reviews kept in train because their product had no other review.
    """

    train: pd.DataFrame
    test: pd.DataFrame
    unseen_product_rows: int

    def __iter__(self):
        return iter((self.train, self.test))


def count_frame(frame: pd.DataFrame) -> Counts:
    return Counts(len(frame), frame["customer_id"].nunique(), frame["product_id"].nunique())


def filter_min_counts(frame: pd.DataFrame, min_customer_reviews: int = 5,
                      min_product_reviews: int = 10, kcore: bool = False) -> FilterResult:
    """Drop customers with fewer than `min_customer_reviews` reviews and products with fewer
    than `min_product_reviews`.

    Without kcore (the notebook's filter) both counts come from the unfiltered frame and are
    applied together, so a kept customer may end up with fewer reviews than the minimum. With
    kcore the filter repeats on its own output until nothing changes: then every remaining
    customer and product meets its minimum.
    """
    customers, num_customers = _codes(frame["customer_id"])
    products, num_products = _codes(frame["product_id"])
    keep = np.ones(len(frame), dtype=bool)
    iterations = 0
    while True:
        iterations += 1
        per_customer = np.bincount(customers[keep], minlength=num_customers)
        per_product = np.bincount(products[keep], minlength=num_products)
        passes = keep & (per_customer[customers] >= min_customer_reviews) & (
            per_product[products] >= min_product_reviews
        )
        stable = passes.sum() == keep.sum()
        keep = passes
        if not kcore or stable:
            break
    before = Counts(len(frame), _distinct(customers), _distinct(products))
    after = Counts(int(keep.sum()), _distinct(customers[keep]), _distinct(products[keep]))
    return FilterResult(frame[keep], before, after, iterations)


def split_last_review(frame: pd.DataFrame) -> LastReviewSplit:
    """Each customer's chronologically last review goes to test, the rest to train.

    "Last" is by review_date; reviews on the same date are ordered by `row` (file order), so
    the later row wins. Missing dates (NaT) count as earlier than any date; if all dates are
    missing this is pure file order. Customers with a single review stay in train only. A last
    review whose product has no other review would be unscorable, so it stays in train too
    (counted in `unseen_product_rows`). Every test customer and product is therefore in train.
    """
    customers, _ = _codes(frame["customer_id"])
    products, num_products = _codes(frame["product_id"])
    order = np.lexsort((frame["row"].to_numpy(), _date_keys(frame), customers))
    sorted_customers = customers[order]
    boundary = sorted_customers[1:] != sorted_customers[:-1]
    last = np.r_[boundary, True]
    first = np.r_[True, boundary]
    is_test = np.zeros(len(frame), dtype=bool)
    is_test[order[last & ~first]] = True
    product_in_train = np.bincount(products[~is_test], minlength=num_products) > 0
    unseen = is_test & ~product_in_train[products]
    is_test &= ~unseen
    return LastReviewSplit(frame[~is_test], frame[is_test], int(unseen.sum()))


def split_validation(train: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out a random `fraction` of the training ratings (seeded) for early stopping.

    A held-out row whose customer or product would have no rating left in training goes back
    to training, so the validation set can be a little smaller than `fraction`. Fraction 0
    gives an empty validation frame.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation fraction must be in [0, 1), got {fraction}")
    wanted = int(round(fraction * len(train)))
    is_validation = np.zeros(len(train), dtype=bool)
    if wanted:
        is_validation[np.random.default_rng(seed).choice(len(train), wanted, replace=False)] = True
        customers, num_customers = _codes(train["customer_id"])
        products, num_products = _codes(train["product_id"])
        customer_left = np.bincount(customers[~is_validation], minlength=num_customers) > 0
        product_left = np.bincount(products[~is_validation], minlength=num_products) > 0
        is_validation &= customer_left[customers] & product_left[products]
    return train[~is_validation], train[is_validation]


def product_statistics(frame: pd.DataFrame, product_ids=None) -> pd.DataFrame:
    """Per product: `count` (int64), `mean_rating` (float64) and `title` (str), indexed by
    product_id. The title is the most recent non-empty one (by review_date, then row), "" if
    none. With `product_ids` the rows follow that order; products without ratings get count 0,
    mean_rating NaN and title "".
    """
    codes, uniques = pd.factorize(frame["product_id"], sort=False)
    count = np.bincount(codes, minlength=len(uniques))
    total = np.bincount(codes, weights=frame["star_rating"].to_numpy(np.float64), minlength=len(uniques))
    stats = pd.DataFrame(
        {"count": count.astype(np.int64), "mean_rating": total / np.maximum(count, 1),
         "title": _latest_titles(frame, codes, len(uniques))},
        index=pd.Index(uniques, name="product_id"),
    )
    if product_ids is None:
        return stats
    aligned = stats.reindex(pd.Index(product_ids, name="product_id"))
    return aligned.fillna({"count": 0, "title": ""}).astype({"count": np.int64})


def _latest_titles(frame: pd.DataFrame, codes: np.ndarray, num_products: int) -> np.ndarray:
    titles = frame["product_title"].to_numpy(dtype=object)
    with_title = np.flatnonzero(frame["product_title"].ne("").to_numpy())
    order = with_title[np.lexsort((
        frame["row"].to_numpy()[with_title], _date_keys(frame)[with_title], codes[with_title]
    ))]
    sorted_codes = codes[order]
    last = order[np.r_[sorted_codes[1:] != sorted_codes[:-1], True]] if order.size else order
    latest = np.full(num_products, "", dtype=object)
    latest[codes[last]] = titles[last]
    return latest


def _codes(ids: pd.Series) -> tuple[np.ndarray, int]:
    """Integer codes of the ids and an upper bound on them; codes of unused ids just never occur."""
    if isinstance(ids.dtype, pd.CategoricalDtype):
        codes = ids.cat.codes.to_numpy()
        if not codes.size or codes.min() >= 0:  # -1 codes (missing ids) need factorize's handling
            return codes, len(ids.cat.categories)
    codes, uniques = pd.factorize(ids, sort=False)
    return codes, len(uniques)


def _distinct(codes: np.ndarray) -> int:
    return int(np.count_nonzero(np.bincount(codes))) if codes.size else 0


def _date_keys(frame: pd.DataFrame) -> np.ndarray:
    """review_date as int64 nanoseconds; NaT is the smallest int64, so it sorts first."""
    return frame["review_date"].to_numpy(dtype="datetime64[ns]").view(np.int64)
