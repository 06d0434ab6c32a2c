"""A real tiny model dir, written with artifacts.save_model as train would."""

from __future__ import annotations

from pathlib import Path

import mxnet as mx
import numpy as np

from mfrec.artifacts import History, ProductTable, save_model
from mfrec.idmap import IdMap
from mfrec.model import Architecture, MFBlock

CUSTOMERS = [f"c{i}" for i in range(6)]
PRODUCTS = [str(100 + i) for i in range(8)]
REVIEWED = {0: [0, 1], 1: [2], 2: [], 3: [3, 4, 5], 4: [6], 5: [7, 0]}
GLOBAL_MEAN = 3.5


def write_tiny_model(model_dir: Path, seed: int = 0) -> MFBlock:
    """A randomly initialised MFBlock with 6 customers and 8 products, saved as train would."""
    mx.random.seed(seed)
    block = MFBlock(Architecture(len(CUSTOMERS), len(PRODUCTS), num_embeddings=8), sparse_grad=False)
    block.initialize(mx.init.Normal(0.6), ctx=mx.cpu())
    block.global_bias.set_data(mx.nd.array([GLOBAL_MEAN]))
    users = np.array([u for u, items in REVIEWED.items() for _ in items])
    items = np.array([i for its in REVIEWED.values() for i in its])
    counts = np.bincount(items, minlength=len(PRODUCTS))
    product_table = ProductTable(
        count=counts,
        mean_rating=np.linspace(2.0, 4.5, len(PRODUCTS)),
        title=np.array([f"Product {p}" for p in PRODUCTS], dtype=object),
    )
    save_model(
        model_dir, block, {"global_mean": GLOBAL_MEAN, "rating_range": [1.0, 5.0]},
        IdMap(CUSTOMERS), IdMap(PRODUCTS), product_table, History.from_pairs(users, items, len(CUSTOMERS)),
    )
    return block
