"""One training job: prepared data -> fitted block -> metrics, model directory and report."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass

import numpy as np

from mfrec import artifacts, evaluate, report
from mfrec.config import TrainingConfig
from mfrec.dataset import PreparedData, prepare_data
from mfrec.devices import Devices
from mfrec.distributed import SINGLE_WORKER, WorkerRole, close_kvstore
from mfrec.errors import UserError
from mfrec.hyperparameters import to_dict
from mfrec.memory import release_freed_memory
from mfrec.model import Architecture, MFBlock
from mfrec.training import LoopSettings, StopFlag, build_block, fit, make_trainer, predict

log = logging.getLogger("mfrec.job")


@dataclass(frozen=True)
class JobOutcome:
    interrupted: bool
    metrics: dict | None


def run_job(config: TrainingConfig, hp, devices: Devices, stop: StopFlag, role: WorkerRole = SINGLE_WORKER) -> JobOutcome:
    """With several workers (role.count > 1) each trains on its shard; only worker 0 evaluates
    and writes outputs, while the others wait at the kvstore's final barrier."""
    started = time.perf_counter()
    data = prepare_data(config.channels, hp)
    release_freed_memory()
    prep_seconds = time.perf_counter() - started
    log.info("data ready in %.1fs: %s", prep_seconds, json.dumps(_summary(data.stats)))
    contexts = devices.contexts()
    architecture = Architecture(len(data.customers), len(data.products), hp.num_embeddings, hp.dropout_p, hp.use_bias, hp.activation)
    settings = LoopSettings.from_hyperparameters(hp, kvstore=choose_kvstore(hp, devices, role.count),
                                                 worker_index=role.index, num_workers=role.count)
    block = build_block(architecture, settings, contexts, global_mean=float(data.train.ratings.mean()))
    trainer = make_trainer(block, settings)
    result = fit(block, trainer, data.train, data.validation, settings, contexts, config.checkpoint_dir,
                 stop, fingerprint=_fingerprint(hp, data), agree_on_start=lambda where: role.agree("start", where))
    if result.interrupted:
        log.info("stopped on request; the checkpoint in %s resumes this job", config.checkpoint_dir)
        return JobOutcome(interrupted=True, metrics=None)
    if not role.writes_outputs:
        close_kvstore(trainer, role)
        return JobOutcome(interrupted=False, metrics=None)
    release_freed_memory()  # the epochs' batch plans, before evaluation allocates its own
    metrics = _evaluate(block, data, hp, contexts[0])
    metrics.update({"epochs": result.history, "best_epoch": result.best_epoch,
                    "prep_seconds": round(prep_seconds, 3), "data": data.stats})
    _log_metrics(metrics)
    _write_outputs(config, block, data, hp, metrics)
    close_kvstore(trainer, role)
    return JobOutcome(interrupted=False, metrics=metrics)


def choose_kvstore(hp, devices: Devices, num_hosts: int = 1) -> str | None:
    """auto: dist_sync across hosts, device across one host's GPUs, none for one device."""
    if num_hosts > 1 and hp.kvstore in ("local", "device"):
        raise UserError(f"kvstore={hp.kvstore} trains on one host, but the job has {num_hosts} hosts; "
                        "use auto, dist_sync or dist_async")
    if hp.kvstore != "auto":
        return hp.kvstore
    if num_hosts > 1:
        return "dist_sync"
    return "device" if devices.num_gpus > 1 else None


def _fingerprint(hp, data: PreparedData) -> str:
    """Identifies the hyperparameters and data a checkpoint belongs to."""
    digest = hashlib.sha256(json.dumps(to_dict(hp), sort_keys=True).encode())
    for array in (data.train.users, data.train.items, data.train.ratings):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _evaluate(block: MFBlock, data: PreparedData, hp, ctx) -> dict:
    test = data.test
    predicted = np.clip(predict(block, test.users, test.items, ctx), *data.rating_range)
    baselines = evaluate.fit_baselines(data.train.users, data.train.items, data.train.ratings,
                                       len(data.customers), len(data.products))
    factors = _factors(block)
    ranking = evaluate.ranking_metrics(
        evaluate.factor_scorer(factors.user_vectors, factors.item_vectors, factors.item_bias),
        test.users, test.items, data.history.indptr, data.history.indices, len(data.products),
        k=hp.eval_top_k, max_users=hp.eval_max_customers or None, seed=hp.seed,
    )
    return {
        "test_mse": evaluate.mse(predicted, test.ratings),
        "test_rmse": evaluate.rmse(predicted, test.ratings),
        "baselines": evaluate.baseline_metrics(baselines, test.users, test.items, test.ratings),
        "ranking": ranking,
        "_test_predicted": predicted,
        "_factors": factors,
    }


def _factors(block: MFBlock):
    import mxnet as mx

    block.collect_params().reset_ctx(mx.cpu())
    return block.factors()


def _log_metrics(metrics: dict) -> None:
    baselines = metrics["baselines"]
    log.info("test_mse=%.4f test_rmse=%.4f", metrics["test_mse"], metrics["test_rmse"])
    for name, values in baselines.items():
        log.info("baseline_%s_mse=%.4f baseline_%s_rmse=%.4f", name, values["mse"], name, values["rmse"])
    for name, value in metrics["ranking"].items():
        if name != "users_evaluated":
            log.info("test_%s=%.4f", name.replace("@", "_at_"), value)


def _write_outputs(config: TrainingConfig, block: MFBlock, data: PreparedData, hp, metrics: dict) -> None:
    predicted = metrics.pop("_test_predicted")
    factors = metrics.pop("_factors")
    metadata = {
        "hyperparameters": to_dict(hp), "data": data.stats, "metrics": _public(metrics),
        "rating_range": list(data.rating_range), "global_mean": float(data.train.ratings.mean()),
    }
    artifacts.save_model(config.model_dir, block, metadata, data.customers, data.products,
                         data.product_table, _serving_history(data))
    config.output_data_dir.mkdir(parents=True, exist_ok=True)
    (config.output_data_dir / "metrics.json").write_text(json.dumps(_public(metrics), indent=1))
    report.write_report(
        config.output_data_dir, metrics["epochs"],
        {name: values["mse"] for name, values in metrics["baselines"].items()},
        predicted, data.test.ratings, _scatter(factors, data), best_epoch=metrics["best_epoch"] or None,
    )
    log.info("model written to %s; metrics and report to %s", config.model_dir, config.output_data_dir)


def _serving_history(data: PreparedData) -> artifacts.History:
    """Everything each customer reviewed (train, validation, test), to exclude from recommendations."""
    parts = [data.train, data.test] + ([data.validation] if data.validation is not None else [])
    users = np.concatenate([p.users for p in parts])
    items = np.concatenate([p.items for p in parts])
    return artifacts.History.from_pairs(users, items, len(data.customers))


def _scatter(factors, data: PreparedData):
    """The notebook's plot: predictions over all products for the two most active customers."""
    counts = np.diff(data.history.indptr)
    if len(counts) < 2:
        return None
    a, b = np.argsort(-counts, kind="stable")[:2]
    score = lambda u: factors.user_vectors[u] @ factors.item_vectors.T + factors.item_bias + factors.user_bias[u] + factors.global_bias  # noqa: E731
    return report.CustomerScatter(score(a), score(b), f"customer {data.customers.to_raw([a])[0]}",
                                  f"customer {data.customers.to_raw([b])[0]}")


def _public(metrics: dict) -> dict:
    return {key: value for key, value in metrics.items() if not key.startswith("_")}


def _summary(stats: dict) -> dict:
    return {k: v for k, v in stats.items() if not isinstance(v, dict)}
