"""Hyperparameters declared as data, parsed from SageMaker's string values and validated.

SageMaker passes every hyperparameter as a string; the Python SDK sometimes JSON-encodes
them (``"\\"sgd\\""``, ``"true"``, ``"64"``), and sagemaker-training's Environment has already
JSON-decoded what it could. ``parse_hyperparameters`` accepts all of these forms.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from mfrec.errors import UserError


class HyperparameterError(UserError):
    """An unknown hyperparameter or a value outside what is allowed."""


@dataclass(frozen=True)
class Spec:
    kind: type
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None

    def allowed(self) -> str:
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.kind is bool:
            return "true or false"
        if self.kind is str:
            return "a string"
        low = "-inf" if self.minimum is None else _fmt(self.minimum)
        high = "inf" if self.maximum is None else _fmt(self.maximum)
        name = {int: "an integer", float: "a number", str: "a string"}[self.kind]
        return f"{name} in [{low}, {high}]"


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


OPTIMIZERS = ("adam", "sgd", "nag", "rmsprop", "ftrl")
KVSTORES = ("auto", "local", "device", "dist_sync", "dist_async")
# Keys SageMaker adds on its own (sagemaker_* by the Python SDK, _tuning_objective_metric by
# tuning jobs); they are not ours to validate.
RESERVED_PREFIXES = ("sagemaker_", "_")

SPECS: dict[str, Spec] = {
    # model
    "num_embeddings": Spec(int, 64, "embedding size and Dense width", 1, 4096),
    "dropout_p": Spec(float, 0.0, "dropout after the Dense layer", 0.0, 0.95),
    "activation": Spec(str, "relu", "activation of the shared Dense layer (notebook: relu)", choices=("relu", "linear", "tanh", "softrelu")),
    "use_bias": Spec(bool, True, "add global, customer and product bias terms"),
    "init_scale": Spec(float, 0.05, "std of the normal init of embeddings (notebook: Xavier magnitude 60 -> use init=xavier)", 1e-6, 10.0),
    "init": Spec(str, "normal", "embedding initialiser", choices=("normal", "xavier")),
    "xavier_magnitude": Spec(float, 3.0, "magnitude when init=xavier (the notebook used 60)", 1e-6, 1000.0),
    # optimisation
    "optimizer": Spec(str, "adam", "Gluon optimizer", choices=OPTIMIZERS),
    "learning_rate": Spec(float, 0.002, "learning rate", 1e-8, 10.0),
    "momentum": Spec(float, 0.9, "momentum for sgd/nag", 0.0, 0.999),
    "wd": Spec(float, 0.03, "L2 weight decay on the customer and product embeddings (applied to the rows a batch touches)", 0.0, 10.0),
    "bias_wd": Spec(float, 1e-4, "L2 weight decay on the bias terms", 0.0, 10.0),
    "dense_wd": Spec(float, 1e-4, "L2 weight decay on the shared Dense layer", 0.0, 10.0),
    "batch_size": Spec(int, 4096, "ratings per step (per device)", 1, 1_000_000),
    "epochs": Spec(int, 20, "maximum number of epochs", 1, 10_000),
    "early_stopping_patience": Spec(int, 3, "epochs without validation improvement before stopping (0: off)", 0, 1000),
    "validation_fraction": Spec(float, 0.05, "share of training ratings held out for early stopping (0: off)", 0.0, 0.5),
    "seed": Spec(int, 42, "random seed for init, shuffling and splits", 0, 2**31 - 1),
    # data
    "min_customer_reviews": Spec(int, 5, "drop customers with fewer reviews", 1, 1_000_000),
    "min_product_reviews": Spec(int, 10, "drop products with fewer reviews", 1, 1_000_000),
    "kcore": Spec(bool, False, "repeat the minimum-count filter until stable"),
    "min_rating": Spec(float, 1.0, "lowest valid rating; rows outside the range are malformed", -1e9, 1e9),
    "max_rating": Spec(float, 5.0, "highest valid rating", -1e9, 1e9),
    "customer_column": Spec(str, "customer_id", "column holding the customer id"),
    "product_column": Spec(str, "product_id", "column holding the product id"),
    "rating_column": Spec(str, "star_rating", "column holding the rating"),
    "title_column": Spec(str, "product_title", "column holding the product title ('' for none)"),
    "date_column": Spec(str, "review_date", "column holding the review date ('' for none: file order)"),
    # evaluation and distribution
    "eval_top_k": Spec(int, 10, "K of HR@K and NDCG@K", 1, 1000),
    "eval_max_customers": Spec(int, 20000, "customers sampled for HR/NDCG (0: all)", 0, 100_000_000),
    "kvstore": Spec(str, "auto", "MXNet kvstore (auto: local/device on one host, dist_sync on several)", choices=KVSTORES),
}


def _field(name: str, spec: Spec) -> tuple:
    return (name, spec.kind, dataclasses.field(default=spec.default))


Hyperparameters = dataclasses.make_dataclass(
    "Hyperparameters",
    [_field(name, spec) for name, spec in SPECS.items()],
    frozen=True,
    namespace={"__doc__": "Validated training hyperparameters (see SPECS for meanings and ranges)."},
)


def parse_hyperparameters(raw: Mapping[str, Any]) -> "Hyperparameters":
    """Validate SageMaker's hyperparameters; raise HyperparameterError naming key, value and rule."""
    raw = {name: value for name, value in raw.items() if not name.startswith(RESERVED_PREFIXES)}
    unknown = sorted(set(raw) - set(SPECS))
    if unknown:
        raise HyperparameterError(
            f"unknown hyperparameter(s) {', '.join(unknown)}; known: {', '.join(sorted(SPECS))}"
        )
    values = {name: _parse_value(name, SPECS[name], value) for name, value in raw.items()}
    hyperparameters = Hyperparameters(**values)
    _check_relations(hyperparameters)
    return hyperparameters


def _check_relations(hp: "Hyperparameters") -> None:
    if hp.min_rating >= hp.max_rating:
        raise HyperparameterError(
            f"hyperparameters min_rating={hp.min_rating} and max_rating={hp.max_rating} are invalid: "
            "min_rating must be below max_rating"
        )


def to_dict(hyperparameters: "Hyperparameters") -> dict[str, Any]:
    return dataclasses.asdict(hyperparameters)


def _parse_value(name: str, spec: Spec, value: Any) -> Any:
    try:
        parsed = _CONVERTERS[spec.kind](_unwrap_json_string(value))
    except (TypeError, ValueError):
        parsed = None
    if parsed is None or not _within(spec, parsed):
        raise HyperparameterError(
            f"hyperparameter {name}={value!r} is invalid: expected {spec.allowed()}"
        )
    return parsed


def _unwrap_json_string(value: Any) -> Any:
    """'"sgd"' -> 'sgd', '64' stays '64'; values that are not JSON strings pass through."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _to_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(text)


def _to_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    number = float(str(value).strip()) if not isinstance(value, (int, float)) else value
    if not math.isfinite(number) or float(number) != int(number):
        return None
    return int(number)


def _to_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    number = float(str(value).strip()) if not isinstance(value, (int, float)) else float(value)
    return number if math.isfinite(number) else None


def _to_str(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) else None


_CONVERTERS: dict[type, Callable[[Any], Any]] = {
    bool: _to_bool, int: _to_int, float: _to_float, str: _to_str,
}


def _within(spec: Spec, value: Any) -> bool:
    if spec.choices is not None:
        return value in spec.choices
    if spec.kind in (int, float):
        return (spec.minimum is None or value >= spec.minimum) and (
            spec.maximum is None or value <= spec.maximum
        )
    return True
