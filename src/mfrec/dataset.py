"""From channel folders to indexed training, validation and test arrays.

A chain of small steps: read -> filter -> split -> index. Only the IdMaps convert raw ids.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
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
    rating_range = (hp.min_rating, hp.max_rating)
    stats: dict = {}
    train_frame = _read(channels["train"], columns, rating_range, "train", stats)
    filtered = prepare.filter_min_counts(
        train_frame, hp.min_customer_reviews, hp.min_product_reviews, kcore=hp.kcore
    )
    frame = filtered.frame
    stats["filter"] = {"before": asdict(filtered.before), "after": asdict(filtered.after),
                       "iterations": filtered.iterations}
    if frame.empty:
        raise UserError(
            f"every rating was filtered out: no customer has >= {hp.min_customer_reviews} reviews "
            f"together with products of >= {hp.min_product_reviews} reviews "
            f"({stats['train']['rows']} usable rows read); lower min_customer_reviews/min_product_reviews"
        )
    if "test" in channels:
        test_frame = _read(channels["test"], columns, rating_range, "test", stats)
        train_frame = frame
    else:
        split = prepare.split_last_review(frame)
        train_frame, test_frame = split.train, split.test
        stats["test_unseen_product_rows_kept_in_train"] = split.unseen_product_rows
    validation_frame = None
    if "validation" in channels:
        validation_frame = _read(channels["validation"], columns, rating_range, "validation", stats)
    elif hp.validation_fraction > 0:
        train_frame, validation_frame = prepare.split_validation(train_frame, hp.validation_fraction, hp.seed)
    return _index(train_frame, validation_frame, test_frame, rating_range, stats)


def _read(channel_dir: Path, columns, rating_range, name: str, stats: dict) -> pd.DataFrame:
    result = read.read_channel(channel_dir, columns, rating_range)
    stats[name] = {"files": result.files, "rows": int(len(result.frame)),
                   "malformed_rows": int(result.malformed_rows), "bytes": int(result.bytes)}
    log.info("channel %s: %d files, %d rows, %d malformed rows skipped",
             name, result.files, len(result.frame), result.malformed_rows)
    return result.frame


def _index(train: pd.DataFrame, validation, test: pd.DataFrame, rating_range, stats: dict) -> PreparedData:
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
    return PreparedData(
        train=train_arrays, validation=validation_arrays, test=test_arrays,
        customers=customers, products=products,
        product_table=_product_table(train, products),
        history=_history(train_arrays, validation_arrays, len(customers)),
        rating_range=rating_range,
        stats=stats,
    )


def _history(train: RatingArrays, validation: RatingArrays | None, num_customers: int) -> History:
    """What each customer reviewed outside the test set: excluded when ranking for them."""
    parts = [train] + ([validation] if validation is not None else [])
    return History.from_pairs(np.concatenate([p.users for p in parts]), np.concatenate([p.items for p in parts]), num_customers)


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


def _product_table(train: pd.DataFrame, products: IdMap) -> ProductTable:
    table = prepare.product_statistics(train, products.raw_ids)
    return ProductTable(
        count=table["count"].to_numpy(np.int64),
        mean_rating=table["mean_rating"].to_numpy(np.float32),
        title=table["title"].to_numpy(dtype=object),
    )
