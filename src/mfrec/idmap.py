"""IdMap: the only place that converts raw ids (strings) to dense indices and back."""

from __future__ import annotations

import numbers
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

UNKNOWN = -1
NOT_LOOKED_UP = -2
SMALL_LOOKUP = 2000


class IdMap:
    """Raw id <-> index 0..n-1. Unknown raw ids map to UNKNOWN (-1), never to another id."""

    def __init__(self, raw_ids: Sequence[str]):
        self._raw = np.asarray(list(raw_ids), dtype=object)
        self._index = pd.Index(self._raw)
        if not self._index.is_unique:
            raise ValueError("IdMap ids must be unique")
        self._positions: dict[str, int] | None = None
        self._category_lookup: tuple[pd.Index, np.ndarray] | None = None

    @classmethod
    def from_values(cls, values: Iterable[str]) -> "IdMap":
        """Sorted unique ids, so every host builds the identical map from the same data."""
        if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
            values = values.cat.remove_unused_categories().cat.categories
        # Unique again after str(): 12 and "12" are one id.
        return cls(np.unique(pd.unique(pd.Series(values, dtype=object)).astype(str)))

    def __len__(self) -> int:
        return len(self._raw)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdMap) and np.array_equal(self._raw, other._raw)

    @property
    def raw_ids(self) -> np.ndarray:
        return self._raw

    def to_index(self, raw: Iterable[Any]) -> np.ndarray:
        """Indices (int64) of raw ids; UNKNOWN where an id is not in the map."""
        if isinstance(raw, pd.Series) and isinstance(raw.dtype, pd.CategoricalDtype):
            return self._categorical_to_index(raw)
        keys = raw if isinstance(raw, (pd.Series, pd.Index, np.ndarray)) else list(raw)
        if len(keys) <= SMALL_LOOKUP:
            positions = self.positions()
            return np.fromiter((positions.get(key, UNKNOWN) for key in keys), dtype=np.int64, count=len(keys))
        return self._index.get_indexer(keys).astype(np.int64)

    def _categorical_to_index(self, raw: pd.Series) -> np.ndarray:
        """Look up each used category once, then index by the codes (-1 codes are missing values).

        Frames split from one frame share its categories, most of them unused after filtering:
        the lookup is kept for the next call and filled only where a frame uses a category."""
        categories = raw.cat.categories
        if self._category_lookup is None or self._category_lookup[0] is not categories:
            lookup = np.full(len(categories) + 1, NOT_LOOKED_UP, dtype=np.int64)
            lookup[-1] = UNKNOWN
            self._category_lookup = (categories, lookup)
        lookup = self._category_lookup[1]
        codes = raw.cat.codes.to_numpy()
        used = np.bincount(codes[codes >= 0], minlength=len(categories)) > 0
        pending = np.flatnonzero(used & (lookup[:-1] == NOT_LOOKED_UP))
        if pending.size:
            lookup[pending] = self._index.get_indexer(categories[pending].astype(str))
        return lookup[codes]

    def positions(self) -> dict[str, int]:
        """raw id -> index as a dict, built once: a request's few ids are faster looked up here."""
        if self._positions is None:
            self._positions = {key: i for i, key in enumerate(self._raw)}
        return self._positions

    def to_raw(self, indices: Iterable[int]) -> np.ndarray:
        """Raw ids at indices; IndexError for UNKNOWN or any index outside 0..n-1."""
        positions = np.asarray(indices, dtype=np.int64)
        if positions.size and (positions.min() < 0 or positions.max() >= len(self._raw)):
            raise IndexError(f"IdMap indices must be in [0, {len(self._raw)}), got {positions.min()}..{positions.max()}")
        return self._raw[positions]

    def to_json(self) -> list[str]:
        return [str(value) for value in self._raw]

    @staticmethod
    def normalize(value: Any) -> str:
        """A request id as the string the map holds: 12 and 12.0 -> '12', '0012' stays '0012'."""
        if isinstance(value, str):
            return value
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"an id must be a string or a number, not {type(value).__name__}")
        if isinstance(value, numbers.Integral):
            return str(int(value))
        if not float(value).is_integer():
            raise ValueError(f"a numeric id must be a whole number, not {value!r}")
        return str(int(value))
