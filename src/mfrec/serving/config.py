"""Server configuration, read once from the environment by `serve`'s main().

SageMaker variables: SAGEMAKER_BASE_DIR (default /opt/ml; the model is BASE/model),
SAGEMAKER_BIND_TO_PORT (8080), SAGEMAKER_MODEL_SERVER_WORKERS or MODEL_SERVER_WORKERS (CPU count),
SAGEMAKER_MODEL_SERVER_TIMEOUT or MODEL_SERVER_TIMEOUT (60 s), SAGEMAKER_MAX_PAYLOAD_IN_MB (6).
Ours: MFREC_CLIP_PREDICTIONS (true: clip ratings to the training rating range),
MFREC_STRICT_UNKNOWN (false: unknown ids get fallbacks; true: 422 unless a request says strict=false),
MFREC_MAX_ITEMS (100000 pairs per request), MFREC_MAX_TOPK_IDS (1000 customers/products per top-k
request), MFREC_MAX_TOP_K (1000), MFREC_WORKER_THREADS (4 request threads per worker),
MFREC_SERVE_USER (user for the workers; default: `model-server` when started as root and it exists,
else no switch; "none" disables the switch).
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from mfrec.errors import UserError
from mfrec.serving.app import Limits
from mfrec.serving.codecs import DEFAULT_TOP_K

DEFAULT_SERVE_USER = "model-server"
GRACEFUL_TIMEOUT_S = 20
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class WorkerUser:
    name: str
    uid: int
    gid: int


@dataclass(frozen=True)
class ServerConfig:
    model_dir: Path
    port: int
    workers: int
    threads: int
    timeout_s: int
    graceful_timeout_s: int
    clip_predictions: bool
    limits: Limits
    user: WorkerUser | None


def read_config(environ: Mapping[str, str]) -> ServerConfig:
    workers = _int(environ, ("SAGEMAKER_MODEL_SERVER_WORKERS", "MODEL_SERVER_WORKERS"), _cpu_count(), 1, 256)
    limits = Limits(
        max_payload_mb=_int(environ, ("SAGEMAKER_MAX_PAYLOAD_IN_MB",), 6, 1, 100),
        max_pairs=_int(environ, ("MFREC_MAX_ITEMS",), Limits.max_pairs, 1, 10_000_000),
        max_top_k_ids=_int(environ, ("MFREC_MAX_TOPK_IDS",), Limits.max_top_k_ids, 1, 1_000_000),
        max_top_k=_int(environ, ("MFREC_MAX_TOP_K",), Limits.max_top_k, DEFAULT_TOP_K, 1_000_000),
        strict_unknown=_bool(environ, "MFREC_STRICT_UNKNOWN", False),
        max_concurrent_transforms=workers,
    )
    return ServerConfig(
        model_dir=Path(environ.get("SAGEMAKER_BASE_DIR") or "/opt/ml") / "model",
        port=_int(environ, ("SAGEMAKER_BIND_TO_PORT",), 8080, 1, 65535),
        workers=workers,
        threads=_int(environ, ("MFREC_WORKER_THREADS",), 4, 1, 64),
        timeout_s=_int(environ, ("SAGEMAKER_MODEL_SERVER_TIMEOUT", "MODEL_SERVER_TIMEOUT"), 60, 1, 3600),
        graceful_timeout_s=GRACEFUL_TIMEOUT_S,
        clip_predictions=_bool(environ, "MFREC_CLIP_PREDICTIONS", True),
        limits=limits,
        user=_worker_user(environ.get("MFREC_SERVE_USER"), os.geteuid()),
    )


def _int(environ: Mapping[str, str], names: tuple[str, ...], default: int, low: int, high: int) -> int:
    name = next((n for n in names if environ.get(n, "").strip()), None)
    if name is None:
        return default
    text = environ[name].strip()
    try:
        value = int(text)
    except ValueError:
        raise UserError(f"{name}={text!r} is not a whole number") from None
    if not low <= value <= high:
        raise UserError(f"{name}={value} is out of range; use {low}..{high}")
    return value


def _bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    text = environ.get(name, "").strip().lower()
    if not text:
        return default
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise UserError(f"{name}={environ[name]!r} is not a boolean; use true or false")


def _worker_user(requested: str | None, euid: int) -> WorkerUser | None:
    requested = (requested or "").strip()
    if requested.lower() == "none":
        return None
    if not requested:
        return _lookup_user(DEFAULT_SERVE_USER) if euid == 0 else None
    user = _lookup_user(requested)
    if user is None:
        raise UserError(f"MFREC_SERVE_USER={requested!r}: no such user")
    if euid != 0 and user.uid != euid:
        raise UserError(f"MFREC_SERVE_USER={requested!r}: switching user needs serve to start as root")
    return user


def _lookup_user(name: str) -> WorkerUser | None:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return WorkerUser(name=name, uid=entry.pw_uid, gid=entry.pw_gid)


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) or 1
