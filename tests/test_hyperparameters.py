"""parse_hyperparameters on every form SageMaker hands values over in, and on bad values."""

from __future__ import annotations

import dataclasses

import pytest

from mfrec.errors import UserError
from mfrec.hyperparameters import SPECS, HyperparameterError, parse_hyperparameters, to_dict


@pytest.mark.parametrize(
    ("raw", "name", "expected"),
    [
        ({"num_embeddings": "64"}, "num_embeddings", 64),
        ({"learning_rate": "0.01"}, "learning_rate", 0.01),
        ({"use_bias": "true"}, "use_bias", True),
        ({"use_bias": "False"}, "use_bias", False),
        ({"kcore": "1"}, "kcore", True),
        ({"optimizer": "sgd"}, "optimizer", "sgd"),
        ({"batch_size": "1e3"}, "batch_size", 1000),
        ({"title_column": ""}, "title_column", ""),
    ],
)
def test_plain_strings(raw, name, expected):
    assert getattr(parse_hyperparameters(raw), name) == expected


@pytest.mark.parametrize(
    ("raw", "name", "expected"),
    [
        ({"optimizer": '"sgd"'}, "optimizer", "sgd"),
        ({"num_embeddings": '"64"'}, "num_embeddings", 64),
        ({"dropout_p": '"0.25"'}, "dropout_p", 0.25),
        ({"use_bias": '"false"'}, "use_bias", False),
        ({"title_column": '""'}, "title_column", ""),
    ],
)
def test_json_encoded_strings(raw, name, expected):
    assert getattr(parse_hyperparameters(raw), name) == expected


@pytest.mark.parametrize(
    ("raw", "name", "expected"),
    [
        ({"num_embeddings": 64}, "num_embeddings", 64),
        ({"num_embeddings": 64.0}, "num_embeddings", 64),
        ({"learning_rate": 1}, "learning_rate", 1.0),
        ({"use_bias": True}, "use_bias", True),
        ({"kcore": False}, "kcore", False),
    ],
)
def test_already_decoded_values(raw, name, expected):
    value = getattr(parse_hyperparameters(raw), name)
    assert value == expected
    assert type(value) is type(expected)


def test_parsed_types_match_the_specs():
    parsed = parse_hyperparameters({"num_embeddings": "8", "learning_rate": "1", "use_bias": "0"})
    assert type(parsed.num_embeddings) is int
    assert type(parsed.learning_rate) is float
    assert type(parsed.use_bias) is bool


def test_defaults_when_absent():
    parsed = to_dict(parse_hyperparameters({}))
    assert parsed == {name: spec.default for name, spec in SPECS.items()}


def test_given_values_leave_the_other_defaults():
    parsed = parse_hyperparameters({"epochs": "3"})
    assert parsed.epochs == 3
    assert parsed.batch_size == SPECS["batch_size"].default


def test_defaults_are_valid_values():
    for name, spec in SPECS.items():
        assert getattr(parse_hyperparameters({name: str(spec.default).lower()}), name) == spec.default


def test_unknown_key_names_it_and_lists_known_ones():
    with pytest.raises(HyperparameterError) as caught:
        parse_hyperparameters({"num_embedings": "64", "epochs": "2"})
    message = str(caught.value)
    assert "num_embedings" in message
    assert "num_embeddings" in message and "learning_rate" in message and "kvstore" in message


def test_keys_sagemaker_adds_itself_are_ignored():
    parsed = parse_hyperparameters({
        "_tuning_objective_metric": "validation_mse",
        "sagemaker_job_name": '"job-1"',
        "sagemaker_region": '"eu-west-1"',
        "epochs": "2",
    })
    assert parsed.epochs == 2


def test_errors_are_user_errors():
    assert issubclass(HyperparameterError, UserError)


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("num_embeddings", "0", "an integer in [1, 4096]"),
        ("num_embeddings", "5000", "an integer in [1, 4096]"),
        ("num_embeddings", "abc", "an integer in [1, 4096]"),
        ("num_embeddings", "1.5", "an integer in [1, 4096]"),
        ("num_embeddings", 1.5, "an integer in [1, 4096]"),
        ("num_embeddings", True, "an integer in [1, 4096]"),
        ("num_embeddings", "", "an integer in [1, 4096]"),
        ("epochs", "nan", "an integer in [1, 10000]"),
        ("dropout_p", "0.96", "a number in [0, 0.95]"),
        ("dropout_p", "-0.1", "a number in [0, 0.95]"),
        ("learning_rate", "NaN", "a number in [1e-08, 10]"),
        ("learning_rate", "inf", "a number in [1e-08, 10]"),
        ("learning_rate", float("inf"), "a number in [1e-08, 10]"),
        ("learning_rate", "fast", "a number in [1e-08, 10]"),
        ("learning_rate", None, "a number in [1e-08, 10]"),
        ("use_bias", "maybe", "true or false"),
        ("use_bias", "2", "true or false"),
        ("optimizer", "sgdx", "one of adam, sgd, nag, rmsprop, ftrl"),
        ("optimizer", "SGD", "one of adam, sgd, nag, rmsprop, ftrl"),
        ("optimizer", 5, "one of adam, sgd, nag, rmsprop, ftrl"),
        ("kvstore", "nccl", "one of auto, local, device, dist_sync, dist_async"),
        ("customer_column", 5, "a string"),
    ],
)
def test_invalid_values_name_key_value_and_rule(name, value, allowed):
    with pytest.raises(HyperparameterError) as caught:
        parse_hyperparameters({name: value})
    message = str(caught.value)
    assert f"{name}={value!r}" in message
    assert message.endswith(f"expected {allowed}")


def test_result_is_frozen():
    parsed = parse_hyperparameters({"epochs": "2"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.epochs = 3
