"""IdMap: sorted deterministic maps, -1 for unknown ids, round trips, request id normalisation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mfrec.idmap import UNKNOWN, IdMap


def test_from_values_is_sorted_and_unique():
    ids = IdMap.from_values(["c", "a", "b", "a", "c"])
    assert list(ids.raw_ids) == ["a", "b", "c"]
    assert len(ids) == 3


def test_from_values_does_not_depend_on_order():
    values = ["10", "2", "0012", "x", "2", "abc"]
    shuffled = list(reversed(values))
    assert IdMap.from_values(values) == IdMap.from_values(shuffled)
    assert IdMap.from_values(pd.Series(values)) == IdMap.from_values(iter(values))


def test_from_values_keeps_leading_zeros():
    ids = IdMap.from_values(["0012", "12", "012"])
    assert list(ids.raw_ids) == ["0012", "012", "12"]
    assert list(ids.to_index(["12", "0012", "012"])) == [2, 0, 1]


def test_from_values_merges_a_number_and_its_string():
    ids = IdMap.from_values([12, "12", "7"])
    assert list(ids.raw_ids) == ["12", "7"]


def test_to_index_maps_unknown_ids_to_minus_one():
    ids = IdMap(["a", "b", "c"])
    assert list(ids.to_index(["c", "zz", "a", "", "B"])) == [2, UNKNOWN, 0, UNKNOWN, UNKNOWN]
    assert UNKNOWN == -1


def test_to_index_does_not_match_a_number_to_its_string():
    ids = IdMap(["12", "7"])
    assert list(ids.to_index([12, "12"])) == [UNKNOWN, 0]


def test_to_index_accepts_series_arrays_and_generators():
    ids = IdMap(["a", "b"])
    expected = [1, 0, UNKNOWN]
    assert list(ids.to_index(pd.Series(["b", "a", "q"]))) == expected
    assert list(ids.to_index(np.array(["b", "a", "q"], dtype=object))) == expected
    assert list(ids.to_index(x for x in ["b", "a", "q"])) == expected
    assert ids.to_index(["a"]).dtype == np.int64


def test_to_index_of_nothing_is_empty():
    ids = IdMap(["a"])
    assert ids.to_index([]).shape == (0,)
    assert list(IdMap([]).to_index(["a"])) == [UNKNOWN]


def test_round_trip():
    raw = ["0012", "x", "12", "Ä-ß"]
    ids = IdMap.from_values(raw)
    assert list(ids.to_raw(ids.to_index(raw))) == raw
    assert list(ids.to_index(ids.to_raw(range(len(ids))))) == list(range(len(ids)))


def test_to_raw_rejects_unknown_and_out_of_range_indices():
    ids = IdMap(["a", "b"])
    with pytest.raises(IndexError):
        ids.to_raw([UNKNOWN])
    with pytest.raises(IndexError):
        ids.to_raw([0, 2])
    assert ids.to_raw([]).shape == (0,)


def test_json_round_trip():
    ids = IdMap.from_values(["b", "0012", "a"])
    document = ids.to_json()
    assert document == ["0012", "a", "b"]
    assert all(type(value) is str for value in document)
    assert IdMap(document) == ids


def test_duplicate_ids_are_rejected():
    with pytest.raises(ValueError, match="unique"):
        IdMap(["a", "b", "a"])


def test_equality():
    assert IdMap(["a", "b"]) == IdMap(["a", "b"])
    assert IdMap(["a", "b"]) != IdMap(["b", "a"])
    assert IdMap(["a"]) != ["a"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(12, "12"), (12.0, "12"), ("0012", "0012"), ("12.0", "12.0"), ("", ""), (0, "0"), (-3, "-3"),
     (np.int64(7), "7"), (np.float32(7.0), "7"), (10**20, "100000000000000000000")],
)
def test_normalize(value, expected):
    assert IdMap.normalize(value) == expected


@pytest.mark.parametrize("value", [True, False, None, [], {}, [12], b"12"])
def test_normalize_rejects_non_ids(value):
    with pytest.raises(TypeError):
        IdMap.normalize(value)


@pytest.mark.parametrize("value", [1.5, float("nan"), float("inf"), -0.25])
def test_normalize_rejects_fractional_numbers(value):
    with pytest.raises(ValueError):
        IdMap.normalize(value)


def test_categorical_columns_map_like_plain_strings():
    values = pd.Series(["b", "0012", "a", "b", None, "zz"], dtype="category")
    id_map = IdMap.from_values(values.dropna())
    assert list(id_map.raw_ids) == ["0012", "a", "b", "zz"]
    known = IdMap(["a", "b"])
    np.testing.assert_array_equal(known.to_index(values), [1, -1, 0, 1, -1, -1])
    np.testing.assert_array_equal(known.to_index(values), known.to_index(list(values.astype(object).fillna("?"))))


def test_unused_categories_do_not_become_ids():
    values = pd.Series(["a", "b", "c"], dtype="category")
    assert list(IdMap.from_values(values[values != "b"]).raw_ids) == ["a", "c"]


def test_frames_sharing_categories_map_each_id_whichever_frame_uses_it_first():
    everything = pd.Series(["a", "b", "c", "d", "e"], dtype="category")
    train, test, again = everything[[0, 1]], everything[[2, 3, 0]], everything[[4, 1, 3]]
    id_map = IdMap(["a", "b", "d"])
    np.testing.assert_array_equal(id_map.to_index(train), [0, 1])
    np.testing.assert_array_equal(id_map.to_index(test), [-1, 2, 0])
    np.testing.assert_array_equal(id_map.to_index(again), [-1, 1, 2])
