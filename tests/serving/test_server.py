"""The real `serve` (gunicorn, 2 workers) as a subprocess against a model trained by the real `train`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from mfrec.serving.app import Limits, create_app
from mfrec.serving.server import warm_up

BIN = Path(sys.executable).parent
STOP_WITHIN_S = 30
START_WITHIN_S = 60

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained_base_dir(tmp_path_factory) -> Path:
    """Generated reviews -> `python -m mfrec.train` -> BASE/model."""
    base = tmp_path_factory.mktemp("trained")
    train_dir = base / "input" / "data" / "train"
    train_dir.mkdir(parents=True)
    (base / "input" / "config").mkdir()
    (base / "input" / "config" / "hyperparameters.json").write_text(json.dumps({
        "epochs": "2", "num_embeddings": "16", "min_customer_reviews": "2", "min_product_reviews": "2",
        "eval_max_customers": "200",
    }))
    subprocess.run([BIN / "mfrec-generate", "--rows", "20000", "--seed", "3", "--out", train_dir / "reviews.tsv.gz"],
                   check=True, capture_output=True)
    trained = subprocess.run([sys.executable, "-m", "mfrec.train"], env={**os.environ, "SAGEMAKER_BASE_DIR": str(base)},
                             capture_output=True, text=True, timeout=600)
    assert trained.returncode == 0, trained.stdout[-3000:] + trained.stderr[-3000:]
    return base


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_serve(base: Path, port: int, **extra_env) -> subprocess.Popen:
    env = {**os.environ, "SAGEMAKER_BASE_DIR": str(base), "SAGEMAKER_BIND_TO_PORT": str(port),
           "SAGEMAKER_MODEL_SERVER_WORKERS": "2", **extra_env}
    return subprocess.Popen([BIN / "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_ping(server: subprocess.Popen, url: str) -> requests.Response:
    deadline = time.monotonic() + START_WITHIN_S
    while time.monotonic() < deadline:
        assert server.poll() is None, server.communicate()[1][-3000:]
        try:
            return requests.get(f"{url}/ping", timeout=2)
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError("serve did not answer /ping in time")


def worker_uids(pid: int, workers: int = 2) -> list[int]:
    """Real uids of the master's children, once all workers have forked."""
    deadline = time.monotonic() + START_WITHIN_S
    children = []
    while len(children) < workers and time.monotonic() < deadline:
        time.sleep(0.1)
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(Path(f"/proc/{child}/status").read_text().split("Uid:")[1].split()[1]) for child in children]


def test_serve_answers_every_request_kind_and_stops_cleanly(trained_base_dir):
    customers = json.loads((trained_base_dir / "model" / "customers.json").read_text())["ids"]
    products = json.loads((trained_base_dir / "model" / "products.json").read_text())["ids"]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    as_root = os.geteuid() == 0
    server = start_serve(trained_base_dir, port, **({"MFREC_SERVE_USER": "nobody"} if as_root else {}))
    try:
        ping = wait_for_ping(server, url)
        assert ping.status_code == 200 and ping.elapsed.total_seconds() < 1.0
        if as_root:
            assert worker_uids(server.pid) == [65534, 65534]
        check_every_request_kind(url, customers, products)
        server.send_signal(signal.SIGTERM)
        stdout, stderr = server.communicate(timeout=STOP_WITHIN_S)
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode == 0, stderr[-3000:]
    assert '"POST /invocations" 200' in stdout and '"POST /invocations" 400' in stdout
    assert "model loaded from" in stderr


def check_every_request_kind(url: str, customers: list[str], products: list[str]) -> None:
    pairs = {"customer_id": customers[:3] + ["nobody-knows"], "product_id": products[:3] + [products[0]]}
    ratings = requests.post(f"{url}/invocations", json=pairs).json()
    assert len(ratings) == 4 and all(1.0 <= r <= 5.0 for r in ratings)
    detailed = requests.post(f"{url}/invocations", json={**pairs, "details": True}).json()
    assert detailed["unknown"] == [False, False, False, True]

    csv_body = "".join(f"{c},{p}\n" for c, p in zip(pairs["customer_id"], pairs["product_id"]))
    as_csv = requests.post(f"{url}/invocations", data=csv_body, headers={"Content-Type": "text/csv", "Accept": "text/csv"})
    assert [float(line) for line in as_csv.text.splitlines()] == pytest.approx(ratings)

    recommended = requests.post(f"{url}/invocations", json={"customer_id": customers[0], "top_k": 5}).json()
    assert len(recommended["recommendations"]) == 5 and recommended["unknown"] is False
    similar = requests.post(f"{url}/invocations", json={"product_id": products[0], "top_k": 3}).json()
    assert len(similar["similar"]) == 3

    lines = "\n".join(json.dumps({"customer_id": c, "top_k": 2}) for c in customers[:3])
    batch = requests.post(f"{url}/invocations", data=lines,
                          headers={"Content-Type": "application/jsonlines", "Accept": "application/jsonlines"})
    assert len(batch.text.splitlines()) == 3

    bad = requests.post(f"{url}/invocations", data=b"{nope", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and "malformed JSON" in bad.json()["error"]
    parameters = requests.get(f"{url}/execution-parameters").json()
    assert parameters["MaxConcurrentTransforms"] == 2 and parameters["MaxPayloadInMB"] == 6


@pytest.mark.parametrize("breakage", ["missing", "bad_json", "bad_version", "truncated_params"])
def test_broken_model_dir_stops_serve_with_a_clear_message(tmp_path, tiny_model_dir, breakage):
    model_dir = tmp_path / "model"
    if breakage != "missing":
        model_dir.mkdir()
        for path in tiny_model_dir.iterdir():
            (model_dir / path.name).write_bytes(path.read_bytes())
    if breakage == "bad_json":
        (model_dir / "products.json").write_text("{not json")
    elif breakage == "bad_version":
        metadata = json.loads((model_dir / "model.json").read_text())
        (model_dir / "model.json").write_text(json.dumps({**metadata, "format_version": 99}))
    elif breakage == "truncated_params":
        (model_dir / "model.params").write_bytes((model_dir / "model.params").read_bytes()[:100])
    started = time.monotonic()
    server = start_serve(tmp_path, free_port())
    _, stderr = server.communicate(timeout=START_WITHIN_S)
    assert server.returncode == 1
    assert time.monotonic() - started < START_WITHIN_S
    assert "serve cannot start" in stderr and str(model_dir) in stderr
    assert "Listening at" not in stderr


def test_warm_up_answers_each_kind_and_fails_loudly(tiny_predictor):
    warm_up(create_app(tiny_predictor, Limits()), tiny_predictor)
    with pytest.raises(RuntimeError, match="warm-up application/jsonlines request failed with 400"):
        warm_up(create_app(tiny_predictor, Limits(max_top_k=5)), tiny_predictor)


def test_invalid_setting_stops_serve_with_a_clear_message(tiny_model_dir):
    server = start_serve(tiny_model_dir.parent, free_port(), SAGEMAKER_MODEL_SERVER_TIMEOUT="soon")
    _, stderr = server.communicate(timeout=START_WITHIN_S)
    assert server.returncode == 1 and "SAGEMAKER_MODEL_SERVER_TIMEOUT='soon' is not a whole number" in stderr
