"""From channel folders to indexed training, validation and test arrays.

A chain of small steps: read -> filter -> split -> index. Only the IdMaps convert raw ids.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from mfrec.artifacts import History, ProductTable
from mfrec.data import prepare, read
from mfrec.errors import UserError
from mfrec.idmap import IdMap
from mfrec.training import RatingArrays

log = logging.getLogger("mfrec.dataset")


@dataclass(frozen=True)
class PreparedData:
    train: RatingArrays
    validation: RatingArrays | None
    test: RatingArrays
    customers: IdMap
    products: IdMap
    product_table: ProductTable
    history: History
    rating_range: tuple[float, float]
    stats: dict


def column_names(hp) -> read.ColumnNames:
    return read.ColumnNames(
        customer=hp.customer_column, product=hp.product_column, rating=hp.rating_column,
        title=hp.title_column or None, date=hp.date_column or None,
    )


def prepare_data(channels: Mapping[str, Path], hp) -> PreparedData:
    columns = column_names(hp)
    stats: dict = {}
    train_frame = _read(channels["train"], columns, "train", stats)
    filtered = prepare.filter_min_counts(
        train_frame, hp.min_customer_reviews, hp.min_product_reviews, kcore=hp.kcore
    )
    frame = filtered.frame
    stats["filter"] = filtered.summary()
    if frame.empty:
        raise UserError(
            f"every rating was filtered out: no customer has >= {hp.min_customer_reviews} reviews "
            f"together with products of >= {hp.min_product_reviews} reviews "
            f"({stats['train']['rows']} usable rows read); lower min_customer_reviews/min_product_reviews"
        )
    if "test" in channels:
        test_frame = _read(channels["test"], columns, "test", stats)
        train_frame = frame
    else:
        train_frame, test_frame = prepare.split_last_review(frame)
    validation_frame = None
    if "validation" in channels:
        validation_frame = _read(channels["validation"], columns, "validation", stats)
    elif hp.validation_fraction > 0:
        train_frame, validation_frame = prepare.split_validation(train_frame, hp.validation_fraction, hp.seed)
    return _index(train_frame, validation_frame, test_frame, stats)


def _read(channel_dir: Path, columns, name: str, stats: dict) -> pd.DataFrame:
    result = read.read_channel(channel_dir, columns)
    stats[name] = {"files": len(result.files), "rows": int(len(result.frame)),
                   "malformed_rows": int(result.malformed_rows), "bytes": int(result.bytes)}
    log.info("channel %s: %d files, %d rows, %d malformed rows skipped",
             name, len(result.files), len(result.frame), result.malformed_rows)
    return result.frame


def _index(train: pd.DataFrame, validation, test: pd.DataFrame, stats: dict) -> PreparedData:
    customers = IdMap.from_values(train["customer_id"])
    products = IdMap.from_values(train["product_id"])
    train_arrays = _encode(train, customers, products)
    test_arrays, test_dropped = _encode_known(test, customers, products)
    validation_arrays = None
    if validation is not None:
        validation_arrays, validation_dropped = _encode_known(validation, customers, products)
        stats["validation_unknown_dropped"] = validation_dropped
    if len(test_arrays) == 0:
        raise UserError("the test set is empty: no held-out review has a customer and product seen in training")
    stats.update({
        "customers": len(customers), "products": len(products),
        "train_ratings": len(train_arrays), "test_ratings": len(test_arrays),
        "validation_ratings": 0 if validation_arrays is None else len(validation_arrays),
        "test_unknown_dropped": test_dropped,
    })
    ratings = train_arrays.ratings
    return PreparedData(
        train=train_arrays, validation=validation_arrays, test=test_arrays,
        customers=customers, products=products,
        product_table=_product_table(train, products, train_arrays),
        history=History.from_pairs(train_arrays.users, train_arrays.items, len(customers)),
        rating_range=(float(ratings.min()), float(ratings.max())),
        stats=stats,
    )


def _encode(frame: pd.DataFrame, customers: IdMap, products: IdMap) -> RatingArrays:
    return RatingArrays(
        users=customers.to_index(frame["customer_id"]).astype(np.int32),
        items=products.to_index(frame["product_id"]).astype(np.int32),
        ratings=frame["star_rating"].to_numpy(dtype=np.float32),
    )


def _encode_known(frame: pd.DataFrame, customers: IdMap, products: IdMap) -> tuple[RatingArrays, int]:
    """Encode, dropping rows whose customer or product the model never saw (counted)."""
    arrays = _encode(frame, customers, products)
    known = (arrays.users >= 0) & (arrays.items >= 0)
    return arrays.take(np.flatnonzero(known)), int((~known).sum())


def _product_table(train: pd.DataFrame, products: IdMap, arrays: RatingArrays) -> ProductTable:
    count = np.bincount(arrays.items, minlength=len(products))
    total = np.bincount(arrays.items, weights=arrays.ratings, minlength=len(products))
    titles = prepare.product_titles(train)
    title = titles.reindex(products.raw_ids).fillna("").to_numpy(dtype=object)
    return ProductTable(count=count, mean_rating=(total / np.maximum(count, 1)).astype(np.float32), title=title)
