import gzip
import json

import numpy as np
import pandas as pd
import pytest

from mfrec.data.generate import (
    AMAZON_COLUMNS,
    MALFORMED_KINDS,
    generate,
    generate_reviews,
    generate_truth,
    main,
    write_reviews,
)


@pytest.fixture(scope="module")
def synthetic():
    return generate(30_000, seed=7)


@pytest.fixture(scope="module")
def reviews(synthetic):
    return synthetic.table.to_pandas()


def test_same_seed_gives_same_rows_and_other_seed_does_not():
    first = generate_reviews(2_000, seed=3)
    pd.testing.assert_frame_equal(first, generate_reviews(2_000, seed=3))
    assert not first["customer_id"].equals(generate_reviews(2_000, seed=4)["customer_id"])


def test_rows_follow_the_amazon_schema(reviews):
    assert tuple(reviews.columns) == AMAZON_COLUMNS
    assert len(reviews) == 30_000
    assert set(reviews["star_rating"].unique()) <= {1, 2, 3, 4, 5}
    assert reviews["review_date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    assert reviews["customer_id"].str.fullmatch(r"\d{8}").all()
    assert reviews["product_id"].str.fullmatch(r"B[0-9A-Z]{9}").all()
    assert reviews["review_id"].is_unique
    assert not reviews.duplicated(["customer_id", "product_id"]).any()
    assert not reviews.apply(lambda column: column.astype(str).str.contains("[\t\n]")).any().any()


def test_some_ids_have_leading_zeros_and_some_titles_quotes(reviews):
    assert reviews["customer_id"].str.startswith("0").any()
    assert reviews["product_title"].str.contains('"').any()


def test_activity_is_long_tailed(reviews):
    per_customer = reviews["customer_id"].value_counts()
    per_product = reviews["product_id"].value_counts()
    assert (per_customer <= 3).mean() > 0.75
    assert per_customer.max() >= 50
    assert per_product.max() >= 20 * per_product.median()


def test_notebook_filter_keeps_a_realistic_fraction(reviews):
    per_customer = reviews["customer_id"].map(reviews["customer_id"].value_counts())
    per_product = reviews["product_id"].map(reviews["product_id"].value_counts())
    kept = ((per_customer >= 5) & (per_product >= 10)).mean()
    assert 0.2 < kept < 0.8


def test_ratings_are_skewed_like_amazon(reviews):
    shares = reviews["star_rating"].value_counts(normalize=True)
    assert 3.9 < reviews["star_rating"].mean() < 4.4
    assert shares.idxmax() == 5
    assert shares[1] > 0.01


def test_ratings_follow_the_true_latent_scores(synthetic, reviews):
    truth = synthetic.truth
    expected = truth.expected_scores(reviews["customer_id"], reviews["product_id"])
    assert np.corrcoef(expected, reviews["star_rating"])[0, 1] > 0.5
    users = pd.Index(truth.customer_ids).get_indexer(reviews["customer_id"])
    items = pd.Index(truth.product_ids).get_indexer(reviews["product_id"])
    interaction = np.einsum("ij,ij->i", truth.customer_vectors[users], truth.product_vectors[items])
    residual = reviews["star_rating"] - truth.customer_bias[users] - truth.product_bias[items]
    assert np.corrcoef(interaction, residual)[0, 1] > 0.3


def test_truth_matches_generate_reviews():
    truth = generate_truth(1_000, seed=5)
    assert truth.customer_vectors.shape == (truth.customer_ids.size, 8)
    assert truth.product_vectors.shape == (truth.product_ids.size, 8)
    assert set(generate_reviews(1_000, seed=5)["customer_id"]) <= set(truth.customer_ids)
    with pytest.raises(ValueError, match="unknown customer"):
        truth.expected_scores(["not-an-id"], truth.product_ids[:1])


def test_dates_span_years_with_same_day_ties(reviews):
    dates = pd.to_datetime(reviews["review_date"])
    assert (dates.max() - dates.min()).days > 5 * 365
    assert reviews.duplicated(["customer_id", "review_date"]).any()


@pytest.mark.parametrize("name", ["reviews.tsv", "reviews.csv"])
def test_written_text_has_malformed_lines_beside_all_valid_rows(tmp_path, name):
    counts = write_reviews(tmp_path / name, 3_000, seed=2, malformed_rate=0.02)
    lines = (tmp_path / name).read_text().splitlines()
    assert lines[0] == ("\t" if name.endswith("tsv") else ",").join(AMAZON_COLUMNS)
    assert counts.rows == 3_000
    assert counts.malformed_lines == 60
    assert set(counts.malformed) == set(MALFORMED_KINDS)
    assert len(lines) == 1 + 3_000 + 60


def test_tsv_field_counts_show_the_wrong_length_lines(tmp_path):
    counts = write_reviews(tmp_path / "r.tsv", 2_000, seed=1, malformed_rate=0.05)
    lines = (tmp_path / "r.tsv").read_text().splitlines()[1:]
    wrong = sum(len(line.split("\t")) != len(AMAZON_COLUMNS) for line in lines)
    assert wrong == counts.malformed["too_few_fields"] + counts.malformed["too_many_fields"]


def test_gzip_output_is_deterministic_gzip(tmp_path):
    write_reviews(tmp_path / "a.tsv.gz", 1_000, seed=9)
    write_reviews(tmp_path / "b.tsv.gz", 1_000, seed=9)
    first = (tmp_path / "a.tsv.gz").read_bytes()
    assert first[:2] == b"\x1f\x8b"
    assert first == (tmp_path / "b.tsv.gz").read_bytes()
    assert gzip.decompress(first).decode().startswith("marketplace\tcustomer_id")


def test_movielens_format_has_user_item_rating_timestamp(tmp_path):
    write_reviews(tmp_path / "ml.csv", 500, seed=1, malformed_rate=0, format="movielens")
    frame = pd.read_csv(tmp_path / "ml.csv", dtype={"user": str, "item": str})
    assert list(frame.columns) == ["user", "item", "rating", "timestamp"]
    expected = generate_reviews(500, seed=1)
    assert frame["user"].tolist() == expected["customer_id"].tolist()
    days = pd.to_datetime(frame["timestamp"], unit="s").dt.strftime("%Y-%m-%d")
    assert days.tolist() == expected["review_date"].tolist()


def test_cli_writes_parquet_and_reports_counts(tmp_path, capsys):
    out = tmp_path / "r.parquet"
    assert main(["--rows", "300", "--seed", "1", "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == {"path": str(out), "format": "parquet", "rows": 300, "malformed": {}}
    assert len(pd.read_parquet(out)) == 300


def test_cli_rejects_an_unknown_suffix(tmp_path, capsys):
    assert main(["--rows", "10", "--out", str(tmp_path / "r.xlsx")]) == 2
    assert "cannot tell the format" in capsys.readouterr().err
