"""The one module that writes and reads model directories (checkpoints: mfrec.checkpoints)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mxnet as mx
import numpy as np

from mfrec.errors import ModelFormatError
from mfrec.idmap import IdMap
from mfrec.model import Architecture, MFBlock

FORMAT_VERSION = 1
PARAMS_FILE = "model.params"
METADATA_FILE = "model.json"
CUSTOMERS_FILE = "customers.json"
PRODUCTS_FILE = "products.json"
HISTORY_FILE = "history.npz"


@dataclass(frozen=True)
class ProductTable:
    """Per-product statistics from the training data, aligned with the product IdMap."""

    count: np.ndarray
    mean_rating: np.ndarray
    title: np.ndarray


@dataclass(frozen=True)
class History:
    """Training products per customer as CSR: products of customer u are indices[indptr[u]:indptr[u+1]]."""

    indptr: np.ndarray
    indices: np.ndarray

    @classmethod
    def from_pairs(cls, users: np.ndarray, items: np.ndarray, num_users: int) -> "History":
        order = np.argsort(users.astype(np.int64) * (int(items.max(initial=0)) + 1) + items, kind="stable")
        counts = np.bincount(users, minlength=num_users)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(indptr=indptr, indices=items[order].astype(np.int32))


@dataclass(frozen=True)
class LoadedModel:
    block: MFBlock
    metadata: dict
    customers: IdMap
    products: IdMap
    product_count: np.ndarray
    product_mean: np.ndarray
    product_title: np.ndarray
    history_indptr: np.ndarray
    history_indices: np.ndarray
    global_mean: float
    rating_range: tuple[float, float]


def save_model(
    model_dir: Path,
    block: MFBlock,
    metadata: dict[str, Any],
    customers: IdMap,
    products: IdMap,
    product_table: ProductTable,
    history: History,
) -> None:
    """Write the model directory; metadata must hold global_mean and rating_range."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    block.save_parameters(str(model_dir / PARAMS_FILE))
    document = {"format_version": FORMAT_VERSION, "architecture": block.architecture.to_dict(), **metadata}
    _write_json(model_dir / METADATA_FILE, document)
    _write_json(model_dir / CUSTOMERS_FILE, {"ids": customers.to_json()})
    _write_json(model_dir / PRODUCTS_FILE, {
        "ids": products.to_json(),
        "count": [int(c) for c in product_table.count],
        "mean_rating": [round(float(m), 6) for m in product_table.mean_rating],
        "title": [str(t) for t in product_table.title],
    })
    np.savez(model_dir / HISTORY_FILE, indptr=history.indptr, indices=history.indices)


def load_model(model_dir: Path) -> LoadedModel:
    """Read a model directory written by save_model; ModelFormatError says what is wrong."""
    model_dir = Path(model_dir)
    metadata = _read_json(model_dir / METADATA_FILE)
    version = metadata.get("format_version") if isinstance(metadata, dict) else None
    if version != FORMAT_VERSION:
        raise ModelFormatError(
            f"{model_dir / METADATA_FILE}: format_version {version!r} is not supported "
            f"(this version reads {FORMAT_VERSION}); retrain or use a matching image"
        )
    block = _load_block(model_dir, metadata)
    try:
        loaded = _read_tables(model_dir, block, metadata)
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFormatError(f"{model_dir}: incomplete model files ({type(error).__name__}: {error})") from error
    _check_sizes(model_dir, loaded)
    return loaded


def _read_tables(model_dir: Path, block: MFBlock, metadata: dict) -> LoadedModel:
    products = _read_json(model_dir / PRODUCTS_FILE)
    history = _read_npz(model_dir / HISTORY_FILE)
    return LoadedModel(
        block=block,
        metadata=metadata,
        customers=IdMap(_read_json(model_dir / CUSTOMERS_FILE)["ids"]),
        products=IdMap(products["ids"]),
        product_count=np.asarray(products["count"], dtype=np.int64),
        product_mean=np.asarray(products["mean_rating"], dtype=np.float32),
        product_title=np.asarray(products["title"], dtype=object),
        history_indptr=history["indptr"],
        history_indices=history["indices"],
        global_mean=float(metadata["global_mean"]),
        rating_range=tuple(float(x) for x in metadata["rating_range"]),
    )


def _check_sizes(model_dir: Path, model: LoadedModel) -> None:
    """Files from different runs mixed in one directory would serve wrong ids or crash per request."""
    a = model.block.architecture
    sizes = {
        f"{CUSTOMERS_FILE} ids": (len(model.customers), a.num_users),
        f"{PRODUCTS_FILE} ids": (len(model.products), a.num_items),
        f"{PRODUCTS_FILE} count": (len(model.product_count), a.num_items),
        f"{PRODUCTS_FILE} mean_rating": (len(model.product_mean), a.num_items),
        f"{PRODUCTS_FILE} title": (len(model.product_title), a.num_items),
        f"{HISTORY_FILE} indptr": (len(model.history_indptr), a.num_users + 1),
    }
    for what, (found, expected) in sizes.items():
        if found != expected:
            raise ModelFormatError(f"{model_dir}: {what} has {found} entries, the model expects {expected}")


def _load_block(model_dir: Path, metadata: dict) -> MFBlock:
    try:
        architecture = Architecture(**metadata["architecture"])
    except (KeyError, TypeError) as error:
        raise ModelFormatError(f"{model_dir / METADATA_FILE}: bad architecture section ({error})") from error
    block = MFBlock(architecture, sparse_grad=False)
    try:
        block.load_parameters(str(model_dir / PARAMS_FILE), ctx=mx.cpu())
    except (OSError, mx.MXNetError, AssertionError) as error:
        raise ModelFormatError(f"{model_dir / PARAMS_FILE}: cannot load parameters ({_first_line(error)})") from error
    return block


def _write_json(path: Path, document: Any) -> None:
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False), encoding="utf-8")


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ModelFormatError(f"{path} is missing: is this a model directory written by train?") from error
    except (OSError, ValueError) as error:
        raise ModelFormatError(f"{path}: cannot read JSON ({error})") from error


def _read_npz(path: Path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except FileNotFoundError as error:
        raise ModelFormatError(f"{path} is missing: is this a model directory written by train?") from error
    except (OSError, ValueError) as error:
        raise ModelFormatError(f"{path}: cannot read ({error})") from error


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
