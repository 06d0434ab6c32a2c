import numpy as np
import pandas as pd
import pytest

from mfrec.data.generate import generate_reviews
from mfrec.data.prepare import (
    Counts,
    filter_min_counts,
    product_statistics,
    split_last_review,
    split_validation,
)


def reviews(rows, dates=None, row=None, titles=None):
    """Standard frame from (customer, product, rating) triples."""
    customers, products, ratings = zip(*rows)
    return pd.DataFrame({
        "customer_id": list(customers),
        "product_id": list(products),
        "star_rating": np.array(ratings, dtype=np.float32),
        "product_title": titles or [""] * len(rows),
        "review_date": pd.to_datetime(dates or [None] * len(rows)),
        "row": np.array(row if row is not None else range(len(rows)), dtype=np.int64),
    })


def pairs(frame):
    return sorted(zip(frame["customer_id"], frame["product_id"]))


FILTER_CASE = reviews([
    ("c1", "p1", 5), ("c1", "p2", 4), ("c1", "p3", 3),
    ("c2", "p1", 5), ("c2", "p2", 2),
    ("c3", "p3", 4),
    ("c4", "p1", 1), ("c4", "p4", 5),
])


def test_filter_counts_on_the_original_frame_like_the_notebook():
    result = filter_min_counts(FILTER_CASE, min_customer_reviews=2, min_product_reviews=2)
    assert pairs(result.frame) == [
        ("c1", "p1"), ("c1", "p2"), ("c1", "p3"), ("c2", "p1"), ("c2", "p2"), ("c4", "p1"),
    ]
    assert result.before == Counts(rows=8, customers=4, products=4)
    assert result.after == Counts(rows=6, customers=3, products=3)
    assert result.iterations == 1


def test_categorical_ids_filter_like_strings_and_unused_categories_are_not_counted():
    frame = FILTER_CASE.copy()
    for column in ("customer_id", "product_id"):
        frame[column] = pd.Categorical(frame[column], categories=sorted(set(frame[column])) + ["unused"])
    result = filter_min_counts(frame, min_customer_reviews=2, min_product_reviews=2)
    expected = filter_min_counts(FILTER_CASE, min_customer_reviews=2, min_product_reviews=2)
    assert pairs(result.frame) == pairs(expected.frame)
    assert (result.before, result.after) == (expected.before, expected.after)


def test_kcore_filter_repeats_until_every_customer_and_product_meets_its_minimum():
    result = filter_min_counts(FILTER_CASE, min_customer_reviews=2, min_product_reviews=2, kcore=True)
    assert pairs(result.frame) == [("c1", "p1"), ("c1", "p2"), ("c2", "p1"), ("c2", "p2")]
    assert result.after == Counts(rows=4, customers=2, products=2)
    assert result.iterations == 3


def test_filter_keeps_row_order_and_columns():
    result = filter_min_counts(FILTER_CASE, 1, 1)
    pd.testing.assert_frame_equal(result.frame, FILTER_CASE)


SPLIT_CASE = reviews(
    [
        ("A", "pX", 5), ("A", "pY", 4), ("A", "pZ", 3),
        ("B", "pZ", 5), ("B", "pX", 2),
        ("D", "pZ", 4), ("D", "pY", 4),
        ("C", "pX", 1),
        ("E", "pX", 3), ("E", "pNew", 5),
        ("F", "pY", 3), ("F", "pX", 4),
    ],
    dates=[
        "2020-01-01", "2020-01-02", "2020-01-02",
        "2020-02-01", "2019-01-01",
        "2018-01-01", "2019-01-01",
        "2020-01-01",
        "2018-01-01", "2019-01-01",
        "2010-01-01", "2011-01-01",
    ],
    row=[0, 25, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110],
)


def test_last_review_by_date_with_row_as_the_tie_break():
    train, test = split_last_review(SPLIT_CASE)
    assert pairs(test) == [("A", "pY"), ("B", "pZ"), ("D", "pY"), ("F", "pX")]
    assert len(train) + len(test) == len(SPLIT_CASE)
    assert set(train["customer_id"]) == {"A", "B", "C", "D", "E", "F"}


def test_last_review_of_a_product_seen_nowhere_else_stays_in_train():
    split = split_last_review(SPLIT_CASE)
    assert split.unseen_product_rows == 1
    assert ("E", "pNew") in pairs(split.train)
    assert set(split.test["product_id"]) <= set(split.train["product_id"])
    assert set(split.test["customer_id"]) <= set(split.train["customer_id"])


def test_without_dates_the_later_row_is_last():
    frame = SPLIT_CASE.assign(review_date=pd.NaT)
    _, test = split_last_review(frame)
    assert pairs(test) == [("A", "pY"), ("B", "pX"), ("D", "pY"), ("F", "pX")]


def test_missing_dates_count_as_earlier_than_known_ones():
    frame = reviews([("A", "p1", 5), ("A", "p2", 4), ("B", "p1", 3), ("B", "p2", 3)],
                    dates=["2020-01-01", None, "2020-01-01", "2020-01-02"])
    _, test = split_last_review(frame)
    assert pairs(test) == [("A", "p1"), ("B", "p2")]


def generated_frame(rows=3_000, seed=1):
    raw = generate_reviews(rows, seed=seed)
    return pd.DataFrame({
        "customer_id": raw["customer_id"], "product_id": raw["product_id"],
        "star_rating": raw["star_rating"].astype(np.float32), "product_title": raw["product_title"],
        "review_date": pd.to_datetime(raw["review_date"]), "row": np.arange(rows, dtype=np.int64),
    })


def test_every_multi_review_customer_has_exactly_one_test_review_on_generated_data():
    frame = generated_frame()
    split = split_last_review(frame)
    per_customer = frame["customer_id"].value_counts()
    assert split.test["customer_id"].is_unique
    multi = set(per_customer[per_customer > 1].index)
    assert set(split.test["customer_id"]) <= multi
    assert len(split.test) + split.unseen_product_rows == len(multi)
    latest = frame.sort_values(["review_date", "row"]).groupby("customer_id").tail(1)
    assert set(split.test["row"]) <= set(latest["row"])


def test_validation_holdout_is_seeded_disjoint_and_covered_by_training():
    train = generated_frame()
    rest, validation = split_validation(train, 0.2, seed=11)
    again_rest, again_validation = split_validation(train, 0.2, seed=11)
    pd.testing.assert_frame_equal(validation, again_validation)
    assert not validation["row"].equals(split_validation(train, 0.2, seed=12)[1]["row"])
    assert sorted(pd.concat([rest, validation])["row"]) == list(range(len(train)))
    assert 0.1 * len(train) < len(validation) <= 0.2 * len(train)
    assert set(validation["customer_id"]) <= set(rest["customer_id"])
    assert set(validation["product_id"]) <= set(rest["product_id"])


def test_validation_fraction_zero_is_empty_and_out_of_range_is_rejected():
    train = generated_frame(200)
    rest, validation = split_validation(train, 0.0, seed=0)
    assert validation.empty and len(rest) == 200
    assert list(validation.columns) == list(train.columns)
    with pytest.raises(ValueError, match="fraction"):
        split_validation(train, 1.0, seed=0)


def test_product_statistics_count_mean_and_latest_non_empty_title():
    frame = reviews(
        [("a", "p1", 5), ("b", "p1", 3), ("a", "p2", 4), ("a", "p3", 2), ("b", "p3", 1), ("c", "p1", 4)],
        dates=["2019-01-01", "2020-01-01", "2020-01-01", "2020-01-01", "2020-01-01", "2021-01-01"],
        titles=["Old", "New", "", "A", "B", ""],
    )
    stats = product_statistics(frame)
    assert stats.loc["p1"].tolist() == [3, 4.0, "New"]
    assert stats.loc["p2"].tolist() == [1, 4.0, ""]
    assert stats.loc["p3", "title"] == "B"
    aligned = product_statistics(frame, ["p2", "p9", "p1"])
    assert aligned["count"].tolist() == [1, 0, 3]
    assert aligned["count"].dtype == np.int64
    assert np.isnan(aligned.loc["p9", "mean_rating"])
    assert aligned["title"].tolist() == ["", "", "New"]
