"""The Flask app: /ping, /invocations, /execution-parameters. Every error becomes JSON here."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from mfrec.serving import codecs
from mfrec.serving.codecs import PairsRequest
from mfrec.serving.predictor import Predictor

log = logging.getLogger("mfrec.serving")
MEGABYTE = 1024 * 1024
MAX_LISTED_UNKNOWN = 10


@dataclass(frozen=True)
class Limits:
    max_payload_mb: int = 6
    max_pairs: int = 100_000
    max_top_k_ids: int = 1_000
    max_top_k: int = 1_000
    strict_unknown: bool = False
    max_concurrent_transforms: int = 1


class TooManyItems(ValueError):
    """A request over one of the item limits (HTTP 400)."""


class UnknownIds(ValueError):
    """Unknown ids in a strict request (HTTP 422)."""


ERROR_STATUS = {
    codecs.BadRequest: 400,
    TooManyItems: 400,
    codecs.NotAcceptable: 406,
    codecs.UnsupportedMediaType: 415,
    UnknownIds: 422,
}


def create_app(predictor: Predictor, limits: Limits) -> Flask:
    app = Flask("mfrec.serving")
    app.config["MAX_CONTENT_LENGTH"] = limits.max_payload_mb * MEGABYTE

    @app.get("/ping")
    def ping():
        if not predictor.is_ready():
            return _json({"status": "model not usable"}, 503)
        return _json({"status": "ok"}, 200)

    @app.get("/execution-parameters")
    def execution_parameters():
        return _json({
            "MaxConcurrentTransforms": limits.max_concurrent_transforms,
            "BatchStrategy": "MULTI_RECORD",
            "MaxPayloadInMB": limits.max_payload_mb,
        }, 200)

    @app.post("/invocations")
    def invocations():
        accept = codecs.choose_accept(request.headers.get("Accept"))
        decoded = codecs.decode(request.get_data(), request.headers.get("Content-Type"))
        check_limits(decoded, limits)
        results = [answer(predictor, one, limits.strict_unknown) for one in decoded.requests]
        body, content_type = codecs.encode(decoded, results, accept)
        return Response(body, status=200, content_type=content_type)

    _register_error_handlers(app)
    return app


def check_limits(decoded: codecs.Decoded, limits: Limits) -> None:
    pairs = sum(one.size for one in decoded.requests if isinstance(one, PairsRequest))
    if pairs > limits.max_pairs:
        raise TooManyItems(f"too many pairs: {pairs} in one request, the limit is {limits.max_pairs}")
    top_k_requests = [one for one in decoded.requests if not isinstance(one, PairsRequest)]
    ids = sum(one.size for one in top_k_requests)
    if ids > limits.max_top_k_ids:
        raise TooManyItems(f"too many ids for top-k: {ids} in one request, the limit is {limits.max_top_k_ids}")
    largest = max((one.top_k for one in top_k_requests), default=0)
    if largest > limits.max_top_k:
        raise TooManyItems(f"top_k {largest} is over the limit {limits.max_top_k}")


def answer(predictor: Predictor, one: codecs.Request, strict_by_default: bool):
    strict = strict_by_default if one.strict is None else one.strict
    if isinstance(one, PairsRequest):
        scores = predictor.score_pairs(one.customer_ids, one.product_ids)
        if strict:
            _refuse_unknown("customer_id", scores.unknown_customer_ids, "product_id", scores.unknown_product_ids)
        return scores
    if one.kind == "recommend":
        rankings = predictor.top_k(one.ids, one.top_k, one.include_reviewed)
    else:
        rankings = predictor.similar(one.ids, one.top_k)
    if strict:
        id_field = "customer_id" if one.kind == "recommend" else "product_id"
        _refuse_unknown(id_field, tuple(dict.fromkeys(r.query_id for r in rankings if not r.known)))
    return rankings


def _refuse_unknown(*fields_and_ids) -> None:
    parts = []
    for field_name, ids in zip(fields_and_ids[::2], fields_and_ids[1::2]):
        if ids:
            listed = ", ".join(map(repr, ids[:MAX_LISTED_UNKNOWN])) + (" ..." if len(ids) > MAX_LISTED_UNKNOWN else "")
            parts.append(f"{len(ids)} unknown {field_name}(s): {listed}")
    if parts:
        raise UnknownIds("strict request: " + "; ".join(parts))


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return _error(error.code or 500, error.description or error.name)

    @app.errorhandler(Exception)
    def any_error(error: Exception):
        status = next((code for kind, code in ERROR_STATUS.items() if isinstance(error, kind)), None)
        if status is None:
            log.exception("internal error on %s %s", request.method, request.path)
            return _error(500, "internal error; see the server log")
        return _error(status, str(error))


def _error(status: int, message: str) -> Response:
    log.warning("%s %s -> %d: %s", request.method, request.path, status, message)
    return _json({"error": message}, status)


def _json(document, status: int) -> Response:
    return Response(json.dumps(document), status=status, content_type=codecs.JSON)
