"""MFBlock: shapes, factors() against the forward pass, dropout modes, sparse gradients, parameters."""

from __future__ import annotations

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd

from mfrec.model import Architecture, GatheredMFBlock, MFBlock

NUM_USERS, NUM_ITEMS, K = 5, 7, 4


def make_block(use_bias=True, dropout_p=0.0, sparse_grad=True, hybridize=False) -> MFBlock:
    mx.random.seed(3)
    block = MFBlock(Architecture(NUM_USERS, NUM_ITEMS, K, dropout_p, use_bias), sparse_grad=sparse_grad)
    block.initialize(mx.init.Normal(0.5), ctx=mx.cpu())
    if use_bias:
        # Non-zero biases, so a bias term that is dropped or doubled shows up in the comparisons.
        rng = np.random.default_rng(0)
        block.user_bias.weight.set_data(mx.nd.array(rng.normal(size=(NUM_USERS, 1))))
        block.item_bias.weight.set_data(mx.nd.array(rng.normal(size=(NUM_ITEMS, 1))))
        block.global_bias.set_data(mx.nd.array([3.5]))
    if hybridize:
        block.hybridize()
    return block


def all_pairs() -> tuple[mx.nd.NDArray, mx.nd.NDArray]:
    users, items = np.meshgrid(np.arange(NUM_USERS), np.arange(NUM_ITEMS), indexing="ij")
    return mx.nd.array(users.ravel()), mx.nd.array(items.ravel())


def ratings_from_factors(block: MFBlock, **kwargs) -> np.ndarray:
    f = block.factors(**kwargs)
    return (f.user_vectors @ f.item_vectors.T + f.user_bias[:, None] + f.item_bias[None, :] + f.global_bias).ravel()


@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("hybridize", [False, True])
def test_output_is_one_rating_per_pair(use_bias, hybridize):
    block = make_block(use_bias=use_bias, hybridize=hybridize)
    out = block(mx.nd.array([0, 4, 2]), mx.nd.array([6, 0, 2]))
    assert out.shape == (3,)
    assert np.isfinite(out.asnumpy()).all()


@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("hybridize", [False, True])
def test_factors_reproduce_the_forward_pass_for_all_pairs(use_bias, hybridize):
    block = make_block(use_bias=use_bias, hybridize=hybridize)
    forward = block(*all_pairs()).asnumpy()
    np.testing.assert_allclose(ratings_from_factors(block), forward, rtol=1e-5, atol=1e-5)
    assert np.ptp(forward) > 0.1


def test_factors_do_not_depend_on_chunk_size():
    block = make_block()
    np.testing.assert_allclose(ratings_from_factors(block, chunk=2), ratings_from_factors(block), rtol=1e-6)


def test_factors_shapes_and_types():
    f = make_block(use_bias=True).factors()
    assert f.user_vectors.shape == (NUM_USERS, K) and f.item_vectors.shape == (NUM_ITEMS, K)
    assert f.user_bias.shape == (NUM_USERS,) and f.item_bias.shape == (NUM_ITEMS,)
    assert f.user_vectors.dtype == f.item_vectors.dtype == f.user_bias.dtype == np.float32
    assert f.global_bias == pytest.approx(3.5)
    assert isinstance(f.global_bias, float)


def test_factors_without_bias_have_zero_biases():
    f = make_block(use_bias=False).factors()
    assert not f.user_bias.any() and not f.item_bias.any() and f.global_bias == 0.0
    assert f.user_bias.shape == (NUM_USERS,) and f.item_bias.shape == (NUM_ITEMS,)


@pytest.mark.parametrize("hybridize", [False, True])
def test_dropout_is_active_only_in_training_mode(hybridize):
    block = make_block(dropout_p=0.5, hybridize=hybridize)
    pairs = all_pairs()
    inference = block(*pairs).asnumpy()
    np.testing.assert_allclose(inference, ratings_from_factors(block), rtol=1e-5, atol=1e-5)
    with autograd.record(train_mode=False):
        np.testing.assert_allclose(block(*pairs).asnumpy(), inference, rtol=1e-6)
    with autograd.record(train_mode=True):
        training = block(*pairs).asnumpy()
    assert np.abs(training - inference).max() > 1e-3


@pytest.mark.parametrize("hybridize", [False, True])
def test_sparse_grad_gives_row_sparse_embedding_gradients(hybridize):
    block = make_block(use_bias=True, sparse_grad=True, hybridize=hybridize)
    with autograd.record():
        loss = block(mx.nd.array([1, 3]), mx.nd.array([0, 5])).sum()
    loss.backward()
    for embedding in (block.user_embeddings, block.item_embeddings, block.user_bias, block.item_bias):
        grad = embedding.weight.grad()
        assert grad.stype == "row_sparse"
    assert sorted(block.user_embeddings.weight.grad().indices.asnumpy()) == [1, 3]
    assert sorted(block.item_embeddings.weight.grad().indices.asnumpy()) == [0, 5]
    assert block.dense.weight.grad().stype == "default"


def test_dense_gradients_without_sparse_grad():
    block = make_block(sparse_grad=False)
    with autograd.record():
        loss = block(mx.nd.array([1]), mx.nd.array([0])).sum()
    loss.backward()
    grad = block.user_embeddings.weight.grad()
    assert grad.stype == "default"
    touched = np.flatnonzero(np.abs(grad.asnumpy()).sum(axis=1))
    assert list(touched) == [1]


def gathered_inputs(block: MFBlock, users: np.ndarray, items: np.ndarray) -> list[mx.nd.NDArray]:
    inputs = []
    for ids, embeddings in ((users, block.user_embeddings), (items, block.item_embeddings)):
        rows, positions = np.unique(ids, return_inverse=True)
        inputs += [mx.nd.take(embeddings.weight.data(), mx.nd.array(rows)), mx.nd.array(positions)]
    if block.architecture.use_bias:
        inputs += [mx.nd.take(block.user_bias.weight.data(), mx.nd.array(np.unique(users))),
                   mx.nd.take(block.item_bias.weight.data(), mx.nd.array(np.unique(items)))]
    return inputs


@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("hybridize", [False, True])
def test_gathered_block_on_distinct_rows_predicts_what_mfblock_predicts(use_bias, hybridize):
    block = make_block(use_bias=use_bias)
    users, items = np.array([4, 1, 4, 0, 1, 1]), np.array([6, 6, 2, 0, 3, 6])
    head = GatheredMFBlock(block)
    if hybridize:
        head.hybridize()
    gathered = head(*gathered_inputs(block, users, items)).asnumpy()
    np.testing.assert_allclose(gathered, block(mx.nd.array(users), mx.nd.array(items)).asnumpy(), rtol=1e-5, atol=1e-6)


def test_gathered_block_shares_mfblocks_parameters_and_adds_none():
    block = make_block(use_bias=True)
    head = GatheredMFBlock(block)
    shared = {p.name for p in block.collect_params().values()}
    assert {p.name for p in head.collect_params().values()} == shared - {
        p.name for p, _ in block.row_tables()
    }


def test_row_tables_pair_each_embedding_with_the_ids_that_index_it():
    block = make_block(use_bias=True)
    assert [(p.shape[0], side) for p, side in block.row_tables()] == [
        (NUM_USERS, "users"), (NUM_ITEMS, "items"), (NUM_USERS, "users"), (NUM_ITEMS, "items")]
    assert len(make_block(use_bias=False).row_tables()) == 2


def structural_shapes(block: MFBlock) -> dict[str, tuple]:
    return {name: p.shape for name, p in block._collect_params_with_prefix().items()}


def test_notebook_architecture_has_exactly_the_notebook_parameters():
    block = make_block(use_bias=False)
    assert structural_shapes(block) == {
        "user_embeddings.weight": (NUM_USERS, K),
        "item_embeddings.weight": (NUM_ITEMS, K),
        "dense.weight": (K, K),
        "dense.bias": (K,),
    }


def test_bias_architecture_adds_three_bias_terms():
    block = make_block(use_bias=True)
    shapes = structural_shapes(block)
    assert {name: shapes[name] for name in set(shapes) - set(structural_shapes(make_block(use_bias=False)))} == {
        "user_bias.weight": (NUM_USERS, 1),
        "item_bias.weight": (NUM_ITEMS, 1),
        "global_bias": (1,),
    }


def test_architecture_round_trips_through_its_dict():
    architecture = Architecture(num_users=3, num_items=9, num_embeddings=16, dropout_p=0.1, use_bias=False)
    assert Architecture(**architecture.to_dict()) == architecture
