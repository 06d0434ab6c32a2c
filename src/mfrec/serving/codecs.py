"""Request bodies -> request objects, results -> response bodies, by content type. No HTTP here.

Request kinds (JSON object, or one per line of application/jsonlines):
- pairs:     {"customer_id": [...], "product_id": [...]}  (a scalar on one side is repeated)
             optional "details": true, "strict": true|false
- recommend: {"customer_id": "X" or [...], "top_k": 10}  optional "include_reviewed", "strict"
- similar:   {"product_id": "Y" or [...], "top_k": 10}   optional "strict"
text/csv: rows `customer_id,product_id` (optional header row) -> one pairs request.
No Content-Type at all means JSON.
Ids are strings or whole numbers (12 and 12.0 both mean "12"); CSV fields are taken as strings.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from mfrec.idmap import IdMap
from mfrec.serving.predictor import FALLBACK_NAMES, PairScores, Ranking

JSON = "application/json"
JSONLINES = "application/jsonlines"
CSV = "text/csv"
CONTENT_TYPE_ALIASES = {
    "application/json": JSON,
    "application/jsonlines": JSONLINES,
    "application/jsonl": JSONLINES,
    "application/x-jsonlines": JSONLINES,
    "text/csv": CSV,
}
ACCEPTABLE = (JSON, JSONLINES, CSV)
DEFAULT_TOP_K = 10
PAIR_FIELDS = {"customer_id", "product_id", "details", "strict"}
RECOMMEND_FIELDS = {"customer_id", "top_k", "include_reviewed", "strict"}
SIMILAR_FIELDS = {"product_id", "top_k", "strict"}
DECIMALS = 6


class BadRequest(ValueError):
    """The body cannot be understood; the message says why (HTTP 400)."""


class UnsupportedMediaType(ValueError):
    """Content type we do not read (HTTP 415)."""


class NotAcceptable(ValueError):
    """Accept asks for a format we cannot write for this result (HTTP 406)."""


@dataclass(frozen=True)
class PairsRequest:
    customer_ids: tuple[str, ...]
    product_ids: tuple[str, ...]
    details: bool = False
    strict: bool | None = None

    @property
    def size(self) -> int:
        return len(self.customer_ids)


@dataclass(frozen=True)
class TopKRequest:
    """Recommendations for customers (kind "recommend") or similar products (kind "similar")."""

    kind: str
    ids: tuple[str, ...]
    single: bool
    top_k: int = DEFAULT_TOP_K
    include_reviewed: bool = False
    strict: bool | None = None

    @property
    def size(self) -> int:
        return len(self.ids)


Request = Union[PairsRequest, TopKRequest]


@dataclass(frozen=True)
class Decoded:
    """The requests of one body; `framing` is the content type it came in."""

    requests: tuple[Request, ...]
    framing: str


def media_type(header: str | None) -> str:
    """'Application/JSON; charset=utf-8' -> 'application/json'."""
    return (header or "").split(";", 1)[0].strip().lower()


def decode(body: bytes, content_type: str | None) -> Decoded:
    kind = CONTENT_TYPE_ALIASES.get(media_type(content_type) or JSON)
    if kind is None:
        raise UnsupportedMediaType(
            f"content type {media_type(content_type) or '(none)'!r} is not supported; "
            f"use one of {', '.join(ACCEPTABLE)}"
        )
    if not body.strip():
        raise BadRequest("empty request body")
    if kind == CSV:
        return Decoded((_decode_csv(body),), CSV)
    if kind == JSONLINES:
        return Decoded(tuple(_decode_lines(body)), JSONLINES)
    return Decoded((parse_request(_load_json(body)),), JSON)


def _decode_lines(body: bytes):
    lines = body.rstrip().split(b"\n")
    for number, line in enumerate(lines, start=1):
        try:
            yield parse_request(_load_json(line))
        except BadRequest as error:
            raise BadRequest(f"line {number}: {error}") from None


def _load_json(body: bytes) -> Any:
    if not body.strip():
        raise BadRequest("empty JSON document")
    try:
        return json.loads(body, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise BadRequest("JSON is nested too deeply") from None
    except UnicodeDecodeError:
        raise BadRequest("body is not UTF-8 text") from None
    except ValueError as error:
        raise BadRequest(f"malformed JSON: {error}") from None


def _reject_constant(name: str):
    raise ValueError(f"{name} is not allowed")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is out of range")
    return value


def parse_request(document: Any) -> Request:
    if not isinstance(document, dict):
        raise BadRequest(f"a request must be a JSON object, not {_type_name(document)}")
    if not document:
        raise BadRequest("empty request: give customer_id and/or product_id")
    has_customer, has_product = "customer_id" in document, "product_id" in document
    if has_customer and has_product:
        return _parse_pairs(document)
    if has_customer:
        return _parse_top_k(document, "recommend", "customer_id", RECOMMEND_FIELDS)
    if has_product:
        return _parse_top_k(document, "similar", "product_id", SIMILAR_FIELDS)
    raise BadRequest("a request needs customer_id (recommendations), product_id (similar products) or both (ratings)")


def _parse_pairs(document: dict) -> PairsRequest:
    _reject_extra_fields(document, PAIR_FIELDS, "a ratings request")
    customers, products = document["customer_id"], document["product_id"]
    customers_list, products_list = isinstance(customers, list), isinstance(products, list)
    if customers_list and products_list and len(customers) != len(products):
        raise BadRequest(f"customer_id has {len(customers)} ids but product_id has {len(products)}; they must pair up")
    if customers_list and not products_list:
        products = [products] * len(customers)
    elif products_list and not customers_list:
        customers = [customers] * len(products)
    customer_ids = _ids(customers, "customer_id")
    product_ids = _ids(products, "product_id")
    if not customer_ids:
        raise BadRequest("empty request: customer_id and product_id are empty lists")
    return PairsRequest(
        customer_ids=customer_ids,
        product_ids=product_ids,
        details=_flag(document, "details", False),
        strict=_flag(document, "strict", None),
    )


def _parse_top_k(document: dict, kind: str, id_field: str, allowed: set[str]) -> TopKRequest:
    _reject_extra_fields(document, allowed, f"a {kind} request")
    values = document[id_field]
    ids = _ids(values, id_field)
    if not ids:
        raise BadRequest(f"empty request: {id_field} is an empty list")
    return TopKRequest(
        kind=kind,
        ids=ids,
        single=not isinstance(values, list),
        top_k=_top_k(document.get("top_k", DEFAULT_TOP_K)),
        include_reviewed=_flag(document, "include_reviewed", False),
        strict=_flag(document, "strict", None),
    )


def _reject_extra_fields(document: dict, allowed: set[str], what: str) -> None:
    extra = sorted(set(document) - allowed)
    if extra:
        raise BadRequest(f"unexpected field(s) {', '.join(map(repr, extra))} in {what}; allowed: {', '.join(sorted(allowed))}")


def _ids(values: Any, field_name: str) -> tuple[str, ...]:
    values = values if isinstance(values, list) else [values]
    if all(type(value) is str for value in values):
        return tuple(values)
    try:
        return tuple(_normalize_id(value) for value in values)
    except (TypeError, ValueError) as error:
        raise BadRequest(f"{field_name}: {error}") from None


def _normalize_id(value: Any) -> str:
    if isinstance(value, (bool, list, dict)) or value is None:
        raise TypeError(f"an id must be a string or a number, not {_type_name(value)}")
    return IdMap.normalize(value)


def _flag(document: dict, name: str, default):
    value = document.get(name, default)
    if value is not default and not isinstance(value, bool):
        raise BadRequest(f"{name} must be true or false, not {_type_name(value)}")
    return value


def _top_k(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadRequest(f"top_k must be a positive integer, not {value!r}"[:200])
    return value


def _type_name(value: Any) -> str:
    names = {dict: "an object", list: "a list", bool: "a boolean", str: "a string", type(None): "null"}
    return names.get(type(value), "a number")


def _decode_csv(body: bytes) -> PairsRequest:
    try:
        text = body.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise BadRequest("CSV body is not UTF-8 text") from None
    try:
        rows = [row for row in csv.reader(io.StringIO(text)) if row]
    except csv.Error as error:
        raise BadRequest(f"malformed CSV: {error}") from None
    if rows and [field.strip().lower() for field in rows[0]] == ["customer_id", "product_id"]:
        rows = rows[1:]
    if not rows:
        raise BadRequest("empty request: the CSV has no customer_id,product_id rows")
    for number, row in enumerate(rows, start=1):
        if len(row) != 2:
            raise BadRequest(f"CSV row {number} has {len(row)} fields; expected customer_id,product_id")
    return PairsRequest(
        customer_ids=tuple(row[0].strip() for row in rows),
        product_ids=tuple(row[1].strip() for row in rows),
    )


# ---- responses -------------------------------------------------------------------------------

def choose_accept(header: str | None) -> str:
    """The response type for an Accept header: the first acceptable entry; none or */* -> JSON."""
    if not header or not header.strip():
        return JSON
    for entry in header.split(","):
        wanted = media_type(entry)
        if wanted in ("*/*", "application/*", ""):
            return JSON
        if wanted == "text/*":
            return CSV
        if wanted in CONTENT_TYPE_ALIASES:
            return CONTENT_TYPE_ALIASES[wanted]
    raise NotAcceptable(f"cannot answer with {header.strip()[:100]!r}; acceptable: {', '.join(ACCEPTABLE)}")


def encode(decoded: Decoded, results: list, accept: str) -> tuple[bytes, str]:
    """results[i] is the predictor's answer to decoded.requests[i]."""
    if accept == CSV:
        return _encode_csv(decoded, results), CSV
    documents = [to_document(request, result) for request, result in zip(decoded.requests, results)]
    if accept == JSONLINES:
        return _encode_lines(decoded, documents), JSONLINES
    single = decoded.framing != JSONLINES
    return _dumps(documents[0] if single else documents), JSON


def _encode_lines(decoded: Decoded, documents: list) -> bytes:
    if decoded.framing == CSV:
        documents = documents[0]  # a CSV body is one ratings request: one output line per row
    return b"".join(_dumps(document) + b"\n" for document in documents)


def _encode_csv(decoded: Decoded, results: list) -> bytes:
    if not all(isinstance(request, PairsRequest) for request in decoded.requests):
        raise NotAcceptable("text/csv responses exist only for ratings requests; accept application/json")
    ratings = np.concatenate([result.ratings for result in results])
    return "".join(f"{value}\n" for value in _rounded(ratings)).encode()


def to_document(request: Request, result) -> Any:
    """The JSON value answering one request."""
    if isinstance(result, PairScores):
        return _pairs_document(result, request.details)
    documents = [_ranking_document(ranking, request.kind) for ranking in result]
    return documents[0] if request.single else documents


def _pairs_document(scores: PairScores, details: bool) -> Any:
    predictions = _rounded(scores.ratings)
    if not details:
        return predictions
    return {
        "predictions": predictions,
        "unknown": scores.unknown.tolist(),
        "fallback": [FALLBACK_NAMES[code] for code in scores.fallback],
    }


def _ranking_document(ranking: Ranking, kind: str) -> dict:
    id_field, score_field, list_field = (
        ("customer_id", "predicted_rating", "recommendations") if kind == "recommend"
        else ("product_id", "similarity", "similar")
    )
    items = [
        {"product_id": product, "title": title, score_field: score}
        for product, title, score in zip(ranking.product_ids, ranking.titles, _rounded(ranking.scores))
    ]
    return {id_field: ranking.query_id, "unknown": not ranking.known, "fallback": ranking.fallback, list_field: items}


def _rounded(values: np.ndarray) -> list[float]:
    return np.round(np.asarray(values, dtype=np.float64), DECIMALS).tolist()


def _dumps(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
