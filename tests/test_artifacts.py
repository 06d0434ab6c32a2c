"""Model directories: round trips, clear errors for unreadable dirs, no pickle."""

from __future__ import annotations

import json
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest

from mfrec import artifacts
from mfrec.artifacts import History, ProductTable, load_model, save_model
from mfrec.errors import ModelFormatError
from mfrec.idmap import IdMap
from mfrec.model import Architecture, MFBlock

CUSTOMERS = IdMap(["0012", "12", "c-ä"])
PRODUCTS = IdMap(["B001", "B002", "B003", "B004"])
USERS = np.array([2, 0, 0, 2, 1])
ITEMS = np.array([3, 2, 0, 1, 2])
METADATA = {"global_mean": 3.75, "rating_range": [1.0, 5.0], "metrics": {"test_rmse": 0.9}, "data": {"ratings": 5}}
TABLE = ProductTable(
    count=np.array([1, 1, 2, 1]),
    mean_rating=np.array([4.0, 2.5, 3.25, 5.0]),
    title=np.array(["Book", "", "Crème brûlée \"deluxe\"", "日本語"], dtype=object),
)


def make_block(use_bias=True, num_users=3, num_items=4, seed=0) -> MFBlock:
    mx.random.seed(seed)
    block = MFBlock(Architecture(num_users, num_items, num_embeddings=6, use_bias=use_bias))
    block.initialize(mx.init.Normal(0.5), ctx=mx.cpu())
    if use_bias:
        block.user_bias.weight.set_data(mx.nd.array([[0.1], [-0.2], [0.3]]))
        block.global_bias.set_data(mx.nd.array([3.75]))
    return block


def all_pairs_prediction(block: MFBlock) -> np.ndarray:
    users, items = np.meshgrid(np.arange(3), np.arange(4), indexing="ij")
    return block(mx.nd.array(users.ravel()), mx.nd.array(items.ravel())).asnumpy()


def write_model(model_dir: Path, block: MFBlock | None = None) -> MFBlock:
    block = block or make_block()
    save_model(model_dir, block, METADATA, CUSTOMERS, PRODUCTS, TABLE, History.from_pairs(USERS, ITEMS, 3))
    return block


@pytest.mark.parametrize("use_bias", [True, False])
def test_round_trip_predicts_identically(tmp_path, use_bias):
    block = write_model(tmp_path / "model", make_block(use_bias=use_bias))
    loaded = load_model(tmp_path / "model")
    np.testing.assert_array_equal(all_pairs_prediction(loaded.block), all_pairs_prediction(block))
    assert loaded.block.architecture == block.architecture
    assert all(p.list_ctx() == [mx.cpu()] for p in loaded.block.collect_params().values())


def test_round_trip_keeps_ids_products_and_history(tmp_path):
    write_model(tmp_path)
    loaded = load_model(tmp_path)
    assert loaded.customers == CUSTOMERS and loaded.products == PRODUCTS
    np.testing.assert_array_equal(loaded.product_count, TABLE.count)
    np.testing.assert_array_equal(loaded.product_mean, TABLE.mean_rating.astype(np.float32))
    assert list(loaded.product_title) == list(TABLE.title)
    np.testing.assert_array_equal(loaded.history_indptr, [0, 2, 3, 5])
    np.testing.assert_array_equal(loaded.history_indices, [0, 2, 2, 1, 3])
    assert loaded.global_mean == 3.75 and isinstance(loaded.global_mean, float)
    assert loaded.rating_range == (1.0, 5.0)


def test_model_json_holds_version_architecture_and_metadata(tmp_path):
    write_model(tmp_path)
    document = json.loads((tmp_path / "model.json").read_text(encoding="utf-8"))
    assert document["format_version"] == artifacts.FORMAT_VERSION == 1
    assert document["architecture"] == {
        "num_users": 3, "num_items": 4, "num_embeddings": 6, "dropout_p": 0.0, "use_bias": True,
        "activation": "relu",
    }
    assert document["metrics"] == {"test_rmse": 0.9} and document["data"] == {"ratings": 5}
    assert load_model(tmp_path).metadata == document


def test_the_documented_files_and_no_others(tmp_path):
    write_model(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "customers.json", "history.npz", "model.json", "model.params", "products.json",
    ]


def test_history_loads_without_pickle(tmp_path):
    write_model(tmp_path)
    with np.load(tmp_path / "history.npz", allow_pickle=False) as archive:
        assert sorted(archive.files) == ["indices", "indptr"]
        assert archive["indptr"].dtype == np.int64
        assert archive["indices"].dtype == np.int32


def test_history_from_pairs_on_a_known_example():
    users = np.array([3, 0, 3, 1, 0, 3])
    items = np.array([5, 2, 1, 4, 0, 7])
    history = History.from_pairs(users, items, num_users=5)
    assert history.indptr.tolist() == [0, 2, 3, 3, 6, 6]
    assert history.indices.tolist() == [0, 2, 4, 1, 5, 7]
    assert history.indptr.dtype == np.int64 and history.indices.dtype == np.int32
    products_of = lambda u: history.indices[history.indptr[u]:history.indptr[u + 1]].tolist()  # noqa: E731
    assert products_of(3) == [1, 5, 7] and products_of(2) == [] and products_of(4) == []


@pytest.mark.parametrize("version", [2, 0, None, "1"])
def test_unknown_format_version(tmp_path, version):
    write_model(tmp_path)
    document = json.loads((tmp_path / "model.json").read_text())
    document["format_version"] = version
    (tmp_path / "model.json").write_text(json.dumps(document))
    with pytest.raises(ModelFormatError) as caught:
        load_model(tmp_path)
    message = str(caught.value)
    assert f"format_version {version!r} is not supported" in message
    assert "reads 1" in message and "model.json" in message


@pytest.mark.parametrize("name", ["model.json", "model.params", "customers.json", "products.json", "history.npz"])
def test_missing_file_is_named(tmp_path, name):
    write_model(tmp_path)
    (tmp_path / name).unlink()
    with pytest.raises(ModelFormatError, match=str(tmp_path / name)):
        load_model(tmp_path)


def test_missing_directory(tmp_path):
    with pytest.raises(ModelFormatError, match="model.json is missing"):
        load_model(tmp_path / "nowhere")


@pytest.mark.parametrize("name", ["model.json", "customers.json", "products.json", "history.npz"])
def test_corrupt_file_is_named(tmp_path, name):
    write_model(tmp_path)
    (tmp_path / name).write_bytes(b"\x00not what it should be{")
    with pytest.raises(ModelFormatError, match=name):
        load_model(tmp_path)


def test_corrupt_params(tmp_path):
    write_model(tmp_path)
    (tmp_path / "model.params").write_bytes(b"garbage" * 10)
    with pytest.raises(ModelFormatError, match="model.params: cannot load parameters"):
        load_model(tmp_path)


def test_truncated_params(tmp_path):
    write_model(tmp_path)
    data = (tmp_path / "model.params").read_bytes()
    (tmp_path / "model.params").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFormatError, match="model.params"):
        load_model(tmp_path)


def test_params_of_another_architecture(tmp_path):
    write_model(tmp_path)
    make_block(num_users=3, num_items=9).save_parameters(str(tmp_path / "model.params"))
    with pytest.raises(ModelFormatError, match="model.params: cannot load parameters"):
        load_model(tmp_path)


def test_bad_architecture_section(tmp_path):
    write_model(tmp_path)
    document = json.loads((tmp_path / "model.json").read_text())
    document["architecture"]["layers"] = 3
    (tmp_path / "model.json").write_text(json.dumps(document))
    with pytest.raises(ModelFormatError, match="bad architecture section"):
        load_model(tmp_path)


def rewrite_json(path: Path, change) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(json.dumps(document), encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "change", "expected"),
    [
        ("model.json", lambda d: d.pop("global_mean"), "KeyError: 'global_mean'"),
        ("model.json", lambda d: d.update(rating_range=None), "TypeError"),
        ("products.json", lambda d: d.pop("title"), "KeyError: 'title'"),
        ("customers.json", lambda d: d.update(ids=["a", "a", "b"]), "unique"),
    ],
)
def test_incomplete_model_files(tmp_path, name, change, expected):
    write_model(tmp_path)
    rewrite_json(tmp_path / name, change)
    with pytest.raises(ModelFormatError, match=f"incomplete model files.*{expected}"):
        load_model(tmp_path)


@pytest.mark.parametrize(
    ("name", "change", "expected"),
    [
        ("customers.json", lambda d: d["ids"].append("extra"), "customers.json ids has 4 entries, the model expects 3"),
        ("products.json", lambda d: d["ids"].pop(), "products.json ids has 3 entries, the model expects 4"),
        ("products.json", lambda d: d["count"].pop(), "products.json count has 3 entries"),
        ("products.json", lambda d: d["title"].append("x"), "products.json title has 5 entries"),
    ],
)
def test_files_that_do_not_match_the_model(tmp_path, name, change, expected):
    write_model(tmp_path)
    rewrite_json(tmp_path / name, change)
    with pytest.raises(ModelFormatError, match=expected):
        load_model(tmp_path)


def test_history_that_does_not_match_the_model(tmp_path):
    write_model(tmp_path)
    np.savez(tmp_path / "history.npz", indptr=np.array([0, 1], dtype=np.int64), indices=np.array([0], dtype=np.int32))
    with pytest.raises(ModelFormatError, match="history.npz indptr has 2 entries, the model expects 4"):
        load_model(tmp_path)


def test_model_json_that_is_not_an_object(tmp_path):
    write_model(tmp_path)
    (tmp_path / "model.json").write_text("[1]")
    with pytest.raises(ModelFormatError, match="format_version None is not supported"):
        load_model(tmp_path)
