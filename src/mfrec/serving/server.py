"""`serve`: load the model once, then run gunicorn (preloaded app, forked workers).

The model is loaded and its numpy factors computed in the master process, before the workers
fork: /ping is fast from the first request, workers share the arrays' memory, and no worker ever
runs MXNet (which is not fork-safe). A model that does not load stops `serve` with exit code 1.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
import time

from gunicorn.app.base import BaseApplication

from mfrec.errors import UserError
from mfrec.serving.blas import limit_blas_threads
from mfrec.serving.app import create_app
from mfrec.serving.config import ServerConfig, read_config
from mfrec.serving.predictor import ModelTables, Predictor

log = logging.getLogger("mfrec.serving")
ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s" %(s)s %(B)s bytes %(M)s ms'
# Settings only newer gunicorn versions know; set when present.
OPTIONAL_SETTINGS = {"control_socket_disable": True}


class ModelServer(BaseApplication):
    """gunicorn with our settings and an already-built WSGI app."""

    def __init__(self, wsgi_app, options: dict):
        self._wsgi_app = wsgi_app
        self._options = options
        super().__init__()

    def load_config(self):
        for key, value in self._options.items():
            self.cfg.set(key, value)
        for key, value in OPTIONAL_SETTINGS.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self):
        return self._wsgi_app


def gunicorn_options(config: ServerConfig) -> dict:
    options = {
        "bind": f"0.0.0.0:{config.port}",
        "workers": config.workers,
        "worker_class": "gthread",
        "threads": config.threads,
        "timeout": config.timeout_s,
        "graceful_timeout": config.graceful_timeout_s,
        "keepalive": 5,
        "preload_app": True,
        "accesslog": "-",
        "access_log_format": ACCESS_LOG_FORMAT,
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "mfrec-serve",
    }
    if os.path.isdir("/dev/shm"):
        options["worker_tmp_dir"] = "/dev/shm"
    if config.user is not None:
        options["user"] = config.user.uid
        options["group"] = config.user.gid
    return options


def load_predictor(config: ServerConfig) -> Predictor:
    from mfrec.artifacts import load_model  # imports MXNet: only in the master, only here

    started = time.perf_counter()
    loaded = load_model(config.model_dir)
    predictor = Predictor(ModelTables.from_loaded_model(loaded), clip=config.clip_predictions)
    log.info(
        "model loaded from %s in %.1f s: %d customers, %d products, %d factors",
        config.model_dir, time.perf_counter() - started, len(predictor.tables.customers),
        predictor.num_products, predictor.tables.item_vectors.shape[1],
    )
    return predictor


def warm_up(app, predictor: Predictor) -> None:
    """One request of each kind and content type through the app, in the master before forking.

    Anything imported lazily on the way (codecs, werkzeug parts) is then loaded before workers
    drop privileges, and a model that cannot answer stops `serve` here instead of in a request.
    """
    if not predictor.is_ready():
        raise RuntimeError("the model has no customers or no products")
    customer = str(predictor.tables.customers.to_raw([0])[0])
    product = str(predictor.tables.products.to_raw([0])[0])
    pairs = json.dumps({"customer_id": [customer], "product_id": [product]})
    requests = [
        (pairs, "application/json", "application/json"),
        (f"{customer},{product}\n", "text/csv", "text/csv"),
        (pairs + "\n" + json.dumps({"customer_id": customer}), "application/jsonlines", "application/jsonlines"),
        (json.dumps({"product_id": product}), "application/json", "*/*"),
    ]
    client = app.test_client()
    for body, content_type, accept in requests:
        response = client.post("/invocations", data=body, content_type=content_type, headers={"Accept": accept})
        if response.status_code != 200:
            raise RuntimeError(f"warm-up {content_type} request failed with {response.status_code}: {response.get_data(as_text=True)}")
    if client.get("/ping").status_code != 200:
        raise RuntimeError("warm-up /ping failed")


class StartupError(Exception):
    """serve must not start; the message says why."""


def build_app(config: ServerConfig):
    """Load the model and check it answers; StartupError with the cause otherwise."""
    try:
        predictor = load_predictor(config)
    except UserError as error:
        raise StartupError(f"model in {config.model_dir}: {error}") from error
    except Exception as error:  # noqa: BLE001 - any failure to load means no server, with the cause
        log.debug("model load traceback", exc_info=True)
        raise StartupError(f"loading the model from {config.model_dir} failed: {type(error).__name__}: {error}") from error
    app = create_app(predictor, config.limits)
    try:
        warm_up(app, predictor)
    except Exception as error:  # noqa: BLE001 - a model that cannot answer means no server
        raise StartupError(f"the model in {config.model_dir} does not answer: {error}") from error
    return app


def run_gunicorn(app, config: ServerConfig) -> None:
    log.info("BLAS pinned to 1 thread per worker thread: %s", ", ".join(limit_blas_threads(1)) or "no OpenBLAS loaded")
    user = f", workers run as {config.user.name}" if config.user else ""
    log.info("serving on port %d with %d workers x %d threads%s", config.port, config.workers, config.threads, user)
    gc.collect()
    gc.freeze()  # keep the model's objects out of the collector so forked workers keep sharing their pages
    ModelServer(app, gunicorn_options(config)).run()


def main() -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = read_config(os.environ)
        app = build_app(config)
    except (UserError, StartupError) as error:
        log.error("serve cannot start: %s", error)
        return 1
    run_gunicorn(app, config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
