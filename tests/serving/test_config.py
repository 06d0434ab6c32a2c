import dataclasses
import os
import pwd
from pathlib import Path

import pytest

from mfrec.errors import UserError
from mfrec.serving.config import WorkerUser, _lookup_user, _worker_user, read_config
from mfrec.serving.server import gunicorn_options


def test_defaults():
    config = read_config({})
    assert config.model_dir == Path("/opt/ml/model")
    assert config.port == 8080
    assert config.workers == len(os.sched_getaffinity(0))
    assert config.timeout_s == 60 and config.graceful_timeout_s < 30
    assert config.clip_predictions and not config.limits.strict_unknown
    assert config.limits.max_payload_mb == 6
    assert config.limits.max_concurrent_transforms == config.workers


def test_sagemaker_variables_and_own_options():
    config = read_config({
        "SAGEMAKER_BASE_DIR": "/tmp/base", "SAGEMAKER_BIND_TO_PORT": "9000",
        "MODEL_SERVER_WORKERS": "3", "SAGEMAKER_MODEL_SERVER_WORKERS": "5", "MODEL_SERVER_TIMEOUT": "7",
        "SAGEMAKER_MAX_PAYLOAD_IN_MB": "20", "MFREC_CLIP_PREDICTIONS": "false", "MFREC_STRICT_UNKNOWN": "TRUE",
        "MFREC_MAX_ITEMS": "10", "MFREC_MAX_TOP_K": "50", "MFREC_WORKER_THREADS": "2",
    })
    assert config.model_dir == Path("/tmp/base/model") and config.port == 9000
    assert config.workers == 5 and config.timeout_s == 7 and config.threads == 2
    assert not config.clip_predictions and config.limits.strict_unknown
    assert (config.limits.max_payload_mb, config.limits.max_pairs, config.limits.max_top_k) == (20, 10, 50)
    assert config.limits.max_concurrent_transforms == 5


@pytest.mark.parametrize("name, value, message", [
    ("SAGEMAKER_BIND_TO_PORT", "http", "not a whole number"),
    ("SAGEMAKER_BIND_TO_PORT", "70000", "out of range"),
    ("MODEL_SERVER_WORKERS", "0", "out of range"),
    ("SAGEMAKER_MODEL_SERVER_TIMEOUT", "1.5", "not a whole number"),
    ("MFREC_CLIP_PREDICTIONS", "maybe", "not a boolean"),
    ("MFREC_SERVE_USER", "no-such-user-here", "no such user"),
    ("MFREC_MAX_TOP_K", "5", "out of range"),
])
def test_invalid_values_are_user_errors_naming_the_variable(name, value, message):
    with pytest.raises(UserError, match=f"{name}.*{message}"):
        read_config({name: value})


def test_worker_user_defaults_to_model_server_only_as_root():
    assert _worker_user(None, euid=1000) is None
    assert _worker_user(None, euid=0) == _lookup_user("model-server")  # None where that user does not exist
    assert _worker_user("none", euid=0) is None


def test_explicit_worker_user_needs_root():
    nobody = pwd.getpwnam("nobody")
    user = _worker_user("nobody", euid=0)
    assert (user.uid, user.gid) == (nobody.pw_uid, nobody.pw_gid)
    with pytest.raises(UserError, match="needs serve to start as root"):
        _worker_user("nobody", euid=12345)


def test_gunicorn_options_preload_and_switch_user():
    config = dataclasses.replace(read_config({"SAGEMAKER_BIND_TO_PORT": "9000"}), user=WorkerUser("nobody", 65534, 65533))
    options = gunicorn_options(config)
    assert options["preload_app"] is True and options["graceful_timeout"] < 30
    assert options["bind"] == "0.0.0.0:9000"
    assert (options["user"], options["group"]) == (65534, 65533)
    assert "user" not in gunicorn_options(dataclasses.replace(config, user=None))
