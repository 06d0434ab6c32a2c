import mxnet as mx
import numpy as np
import pytest

from mfrec.artifacts import load_model
from mfrec.errors import ModelFormatError
from mfrec.idmap import IdMap
from mfrec.serving.predictor import CUSTOMER_BIAS, GLOBAL_MEAN, MODEL, PRODUCT_MEAN, ModelTables, Predictor
from .tiny_model import CUSTOMERS, PRODUCTS


def hand_tables(**overrides) -> ModelTables:
    """3 customers, 5 products in 2-d. Customer a likes the x axis, b the y axis, c nothing.

    Product p_k has vector (k, 4 - k) for k = 0..4, so a's ranking is p4 > p3 > ... and b's is
    the reverse. a already reviewed p4; b reviewed nothing; c reviewed everything.
    """
    item_vectors = np.array([[k, 4 - k] for k in range(5)], dtype=np.float32)
    fields = dict(
        user_vectors=np.array([[1, 0], [0, 1], [0, 0]], dtype=np.float32),
        item_vectors=item_vectors,
        user_bias=np.array([0.5, -0.5, 0.0], dtype=np.float32),
        item_bias=np.zeros(5, dtype=np.float32),
        global_bias=0.25,
        customers=IdMap(["a", "b", "c"]),
        products=IdMap([f"p{k}" for k in range(5)]),
        product_count=np.array([5, 1, 9, 9, 2]),
        product_mean=np.array([4.0, 5.0, 3.0, 3.5, 1.0], dtype=np.float32),
        product_title=np.array([f"Title {k}" for k in range(5)], dtype=object),
        history_indptr=np.array([0, 1, 1, 6]),
        history_indices=np.array([4, 0, 1, 2, 3, 4], dtype=np.int32),
        global_mean=3.0,
        rating_range=(1.0, 5.0),
    )
    fields.update(overrides)
    return ModelTables(**fields)


def test_known_pairs_are_dot_product_plus_biases():
    scores = Predictor(hand_tables(), clip=False).score_pairs(["a", "b", "a"], ["p1", "p1", "p3"])
    np.testing.assert_allclose(scores.ratings, [1 + 0.5 + 0.25, 3 - 0.5 + 0.25, 3 + 0.5 + 0.25])
    assert scores.fallback.tolist() == [MODEL] * 3
    assert scores.unknown_customer_ids == () and scores.unknown_product_ids == ()


def test_unknown_ids_use_documented_fallbacks():
    scores = Predictor(hand_tables(), clip=False).score_pairs(["zz", "b", "zz", "zz"], ["p1", "nope", "nope", "p2"])
    np.testing.assert_allclose(scores.ratings, [5.0, 3.0 - 0.5, 3.0, 3.0])
    assert scores.fallback.tolist() == [PRODUCT_MEAN, CUSTOMER_BIAS, GLOBAL_MEAN, PRODUCT_MEAN]
    assert scores.unknown.tolist() == [True] * 4
    assert scores.unknown_customer_ids == ("zz",)
    assert scores.unknown_product_ids == ("nope",)


def test_clipping_keeps_ratings_in_range():
    tables = hand_tables(user_vectors=np.array([[3, 0], [0, -3], [0, 0]], dtype=np.float32))
    ratings = Predictor(tables, clip=True).score_pairs(["a", "b"], ["p4", "p0"]).ratings
    assert ratings.tolist() == [5.0, 1.0]
    unclipped = Predictor(tables, clip=False).score_pairs(["a", "b"], ["p4", "p0"]).ratings
    assert unclipped[0] > 5 and unclipped[1] < 1


def test_top_k_ranks_by_score_and_skips_reviewed_products():
    predictor = Predictor(hand_tables(), clip=False)
    a, b = predictor.top_k(["a", "b"], 3)
    assert a.product_ids == ["p3", "p2", "p1"]
    np.testing.assert_allclose(a.scores, [3.75, 2.75, 1.75])
    assert a.titles == ["Title 3", "Title 2", "Title 1"]
    assert b.product_ids == ["p0", "p1", "p2"]
    assert a.known and b.known and a.fallback is None


def test_top_k_can_include_reviewed_products():
    (a,) = Predictor(hand_tables(), clip=False).top_k(["a"], 2, include_reviewed=True)
    assert a.product_ids == ["p4", "p3"]


def test_top_k_larger_than_catalogue_returns_every_unreviewed_product():
    a, c = Predictor(hand_tables()).top_k(["a", "c"], 50)
    assert a.product_ids == ["p3", "p2", "p1", "p0"]
    assert c.product_ids == []


def test_top_k_unknown_customer_gets_popular_products_flagged():
    (ranking,) = Predictor(hand_tables()).top_k(["stranger"], 3)
    assert not ranking.known and ranking.fallback == "popular"
    assert ranking.product_ids == ["p3", "p2", "p0"]  # most reviewed; 9-9 tie -> higher mean first
    np.testing.assert_allclose(ranking.scores, [3.5, 3.0, 4.0])


def test_top_k_chunks_many_customers_consistently():
    many = ["a", "b", "stranger"] * 200
    rankings = Predictor(hand_tables()).top_k(many, 2)
    assert [r.product_ids for r in rankings[:3]] == [r.product_ids for r in rankings[-3:]]


def test_similar_uses_cosine_of_item_vectors_and_excludes_the_product():
    tables = hand_tables(item_vectors=np.array([[1, 0], [10, 1], [0, 1], [-1, 0], [1, 1]], dtype=np.float32))
    (ranking,) = Predictor(tables).similar(["p0"], 4)
    assert ranking.product_ids == ["p1", "p4", "p2", "p3"]
    np.testing.assert_allclose(ranking.scores, [10 / np.sqrt(101), 1 / np.sqrt(2), 0, -1], rtol=1e-6)


def test_similar_to_an_all_zero_vector_is_empty_not_arbitrary():
    tables = hand_tables(item_vectors=np.array([[0, 0], [10, 1], [0, 1], [-1, 0], [1, 1]], dtype=np.float32))
    (ranking,) = Predictor(tables).similar(["p0"], 3)
    assert ranking.known and ranking.product_ids == [] and ranking.fallback == "no_vector"
    (other,) = Predictor(tables).similar(["p2"], 2)
    assert other.product_ids == ["p4", "p1"]


def test_similar_unknown_product_is_empty_and_flagged():
    (ranking,) = Predictor(hand_tables()).similar(["nope"], 3)
    assert not ranking.known and ranking.product_ids == []


@pytest.mark.parametrize("field_name, value, message", [
    ("user_bias", np.zeros(2, dtype=np.float32), "user_bias"),
    ("product_title", np.array(["x"], dtype=object), "title"),
    ("history_indptr", np.array([0, 1, 1]), "indptr"),
    ("history_indices", np.array([4, 0, 1, 2, 3, 9], dtype=np.int32), "unknown products"),
    ("rating_range", (5.0, 1.0), "rating_range"),
    ("item_vectors", np.full((5, 2), np.nan, dtype=np.float32), "non-finite"),
])
def test_inconsistent_tables_are_a_model_format_error(field_name, value, message):
    with pytest.raises(ModelFormatError, match=message):
        Predictor(hand_tables(**{field_name: value}))


def test_real_model_dir_scores_match_the_mxnet_block(tiny_model_dir):
    loaded = load_model(tiny_model_dir)
    users = np.repeat(np.arange(len(CUSTOMERS)), len(PRODUCTS))
    items = np.tile(np.arange(len(PRODUCTS)), len(CUSTOMERS))
    expected = loaded.block(mx.nd.array(users), mx.nd.array(items)).asnumpy()
    predictor = Predictor(ModelTables.from_loaded_model(loaded), clip=False)
    got = predictor.score_pairs([CUSTOMERS[u] for u in users], [PRODUCTS[i] for i in items]).ratings
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    ranking = predictor.top_k([CUSTOMERS[2]], len(PRODUCTS))[0]  # customer 2 reviewed nothing
    assert ranking.product_ids == [PRODUCTS[i] for i in np.argsort(-expected[2 * len(PRODUCTS):3 * len(PRODUCTS)], kind="stable")]
