"""The Gluon network. It knows nothing of files, data sources or HTTP."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import mxnet as mx
import numpy as np
from mxnet import gluon


@dataclass(frozen=True)
class Architecture:
    num_users: int
    num_items: int
    num_embeddings: int = 64
    dropout_p: float = 0.0
    use_bias: bool = True
    activation: str = "relu"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Factors:
    """Inference-mode factors: rating(u, i) = user_vectors[u] . item_vectors[i] + biases."""

    user_vectors: np.ndarray
    item_vectors: np.ndarray
    user_bias: np.ndarray
    item_bias: np.ndarray
    global_bias: float


class MFBlock(gluon.HybridBlock):
    """The notebook's MFBlock (user and item Embedding -> shared Dense(relu) -> Dropout ->
    elementwise product summed), plus optional global, user and item bias terms."""

    def __init__(self, architecture: Architecture, sparse_grad: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.architecture = architecture
        a = architecture
        with self.name_scope():
            self.user_embeddings = gluon.nn.Embedding(a.num_users, a.num_embeddings, sparse_grad=sparse_grad)
            self.item_embeddings = gluon.nn.Embedding(a.num_items, a.num_embeddings, sparse_grad=sparse_grad)
            self.dense = gluon.nn.Dense(
                a.num_embeddings, activation=None if a.activation == "linear" else a.activation, in_units=a.num_embeddings
            )
            self.dropout = gluon.nn.Dropout(a.dropout_p)
            if a.use_bias:
                self.user_bias = gluon.nn.Embedding(a.num_users, 1, sparse_grad=sparse_grad)
                self.item_bias = gluon.nn.Embedding(a.num_items, 1, sparse_grad=sparse_grad)
                self.global_bias = self.params.get("global_bias", shape=(1,), init=mx.init.Zero())

    def hybrid_forward(self, F, users, items, global_bias=None):
        user_vectors = self.dropout(self.dense(self.user_embeddings(users)))
        item_vectors = self.dropout(self.dense(self.item_embeddings(items)))
        predictions = _row_sums(F, user_vectors * item_vectors)
        if global_bias is None:
            return predictions
        biases = F.reshape(self.user_bias(users) + self.item_bias(items), shape=(-1,))
        return F.broadcast_add(predictions + biases, global_bias)

    def row_tables(self) -> list[tuple[gluon.Parameter, str]]:
        """The embedding weights with the ids that index them ("users" or "items"), in
        GatheredMFBlock's input order."""
        tables = [(self.user_embeddings.weight, "users"), (self.item_embeddings.weight, "items")]
        if self.architecture.use_bias:
            tables += [(self.user_bias.weight, "users"), (self.item_bias.weight, "items")]
        return tables

    def factors(self, chunk: int = 65536) -> Factors:
        """Compute every user's and item's final vectors (dropout off) as numpy arrays."""
        a = self.architecture
        return Factors(
            user_vectors=self._vectors(self.user_embeddings, a.num_users, chunk),
            item_vectors=self._vectors(self.item_embeddings, a.num_items, chunk),
            user_bias=self._bias(getattr(self, "user_bias", None), a.num_users),
            item_bias=self._bias(getattr(self, "item_bias", None), a.num_items),
            global_bias=float(self.global_bias.data(mx.cpu()).asnumpy()[0]) if a.use_bias else 0.0,
        )

    def _vectors(self, embedding: gluon.nn.Embedding, count: int, chunk: int) -> np.ndarray:
        weight = embedding.weight.data(mx.cpu())
        parts = [self.dense(weight[start:start + chunk]).asnumpy() for start in range(0, count, chunk)]
        return np.concatenate(parts).astype(np.float32, copy=False)

    @staticmethod
    def _bias(embedding: gluon.nn.Embedding | None, count: int) -> np.ndarray:
        if embedding is None:
            return np.zeros(count, dtype=np.float32)
        return embedding.weight.data(mx.cpu()).asnumpy().reshape(-1).astype(np.float32)


class GatheredMFBlock(gluon.HybridBlock):
    """MFBlock's training forward on rows gathered from its embedding tables: each distinct user
    and item of a batch once, plus every rating's position among them. It shares MFBlock's Dense,
    Dropout and global bias; the gathered rows are inputs, so their gradients come back dense and
    batch-sized and the tables are updated row by row (optimizers.update_rows)."""

    def __init__(self, block: MFBlock):
        super().__init__(prefix=block.prefix, params=block.params)
        self.dense = block.dense
        self.dropout = block.dropout
        if block.architecture.use_bias:
            self.global_bias = self.params.get("global_bias")

    def hybrid_forward(self, F, user_rows, user_positions, item_rows, item_positions, *bias_rows, global_bias=None):
        # The Dense layer works row by row, so it runs once per distinct user or item.
        user_vectors = self.dropout(F.take(self.dense(user_rows), user_positions))
        item_vectors = self.dropout(F.take(self.dense(item_rows), item_positions))
        predictions = _row_sums(F, user_vectors * item_vectors)
        if global_bias is None:
            return predictions
        user_bias_rows, item_bias_rows = bias_rows
        biases = F.reshape(F.take(user_bias_rows, user_positions) + F.take(item_bias_rows, item_positions), shape=(-1,))
        return F.broadcast_add(predictions + biases, global_bias)


def _row_sums(F, x):
    """x.sum(axis=1) as a product with a ones vector: MXNet's axis reduction is 4x slower here."""
    ones = F.reshape(F.ones_like(F.slice_axis(x, axis=0, begin=0, end=1)), shape=(-1,))
    return F.dot(x, ones)
