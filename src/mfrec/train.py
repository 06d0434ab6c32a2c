"""`train`: the SageMaker training entry point. One error boundary picks the exit code.

Exit codes: 0 done, 1 user error (bad data or hyperparameters), 2 internal error,
143 stopped by SIGTERM after writing a checkpoint.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import traceback
from pathlib import Path

from mfrec.config import TrainingPaths
from mfrec.errors import UserError

EXIT_USER_ERROR = 1
EXIT_INTERNAL_ERROR = 2
EXIT_STOPPED = 128 + signal.SIGTERM
FAILURE_LIMIT = 1024

log = logging.getLogger("mfrec.train")


def main(argv: list[str] | None = None) -> int:
    _configure_logging()
    paths = TrainingPaths.from_environ(os.environ)
    try:
        return _train(paths)
    except UserError as error:
        log.error("training failed: %s", error)
        _write_failure(paths.failure_file, f"UserError: {error}")
        return EXIT_USER_ERROR
    except Exception as error:  # noqa: BLE001 - the one boundary that reports every failure
        log.error("internal error:\n%s", traceback.format_exc())
        _write_failure(paths.failure_file, f"InternalError: {type(error).__name__}: {error}")
        return EXIT_INTERNAL_ERROR


def _train(paths: TrainingPaths) -> int:
    from mfrec.config import load_training_config
    from mfrec.devices import detect_devices
    from mfrec.hyperparameters import parse_hyperparameters

    config = load_training_config(paths)
    hp = parse_hyperparameters(config.hyperparameters)
    devices = detect_devices()
    log.info("training on %s (%d GPU(s)), host %s of %s", devices.kind, devices.num_gpus,
             config.current_host, ",".join(config.hosts))
    from mfrec.job import run_job
    from mfrec.training import StopFlag

    stop = StopFlag()
    signal.signal(signal.SIGTERM, stop.request)
    outcome = run_job(config, hp, devices, stop)
    return EXIT_STOPPED if outcome.interrupted else 0


def _write_failure(path: Path, reason: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(reason[:FAILURE_LIMIT], encoding="utf-8")
    except OSError as error:
        log.error("cannot write %s: %s", path, error)


def _configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


if __name__ == "__main__":
    sys.exit(main())
