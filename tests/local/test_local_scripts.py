"""local_test/: train_local.sh, serve_local.sh and predict.sh against the built image."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from .conftest import copy_test_dir
from .helpers import LOCAL_TEST, PAYLOADS, free_port, run_script, wait_for_ping
from .sdk_example import load_example

pytestmark = pytest.mark.container
UNKNOWN_CUSTOMER = "NO-SUCH-CUSTOMER"


def start_server(image: str, model_dir: Path, log: Path) -> tuple[subprocess.Popen, int, str]:
    port = free_port()
    name = f"mfrec-local-test-{uuid.uuid4().hex[:8]}"
    env = {"PORT": str(port), "MODEL_DIR": str(model_dir), "SERVE_CONTAINER": name,
           "SAGEMAKER_MODEL_SERVER_WORKERS": "1"}
    with log.open("w") as out:
        process = subprocess.Popen([str(LOCAL_TEST / "serve_local.sh"), image], stdout=out,
                                   stderr=subprocess.STDOUT, env={**os.environ, **env})
    wait_for_ping(f"http://localhost:{port}", within_s=90, process=process, log=log)
    return process, port, name


def stop_server(process: subprocess.Popen, name: str) -> float:
    """SIGINT, as Ctrl-C sends it; the seconds until serve_local.sh exits."""
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=60)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60)
    return time.monotonic() - started


@pytest.fixture(scope="module")
def server(image, trained, tmp_path_factory):
    test_dir, _ = trained
    process, port, name = start_server(image, test_dir / "model", tmp_path_factory.mktemp("serve") / "serve.log")
    yield port
    stop_server(process, name)


def predict(port: int, payload: str | Path, *args: str) -> subprocess.CompletedProcess:
    return run_script("predict.sh", str(PAYLOADS / payload), *args, env={"PORT": str(port)})


def predicted(port: int, payload: str, *args: str) -> str:
    result = predict(port, payload, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def assert_ratings(values, count: int) -> None:
    assert len(values) == count
    assert all(isinstance(v, float) and 1.0 <= v <= 5.0 for v in values), values


def model_ids(test_dir: Path, name: str) -> set[str]:
    return set(json.loads((test_dir / "model" / f"{name}.json").read_text())["ids"])


def test_train_local_writes_the_model_and_the_report(trained):
    test_dir, result = trained
    for name in ("model.json", "model.params", "customers.json", "products.json", "history.npz"):
        assert (test_dir / "model" / name).stat().st_size > 0, name
    assert json.loads((test_dir / "output" / "data" / "metrics.json").read_text())["test_mse"] > 0
    assert not (test_dir / "output" / "failure").exists()
    assert f"model: {test_dir}/model" in result.stdout


def test_hyperparameters_json_reaches_the_model(trained):
    test_dir, _ = trained
    saved = json.loads((test_dir / "model" / "model.json").read_text())["hyperparameters"]
    given = json.loads((test_dir / "input" / "config" / "hyperparameters.json").read_text())
    assert saved["optimizer"] == "adam" and given["optimizer"] == '"adam"'
    assert saved["epochs"] == int(given["epochs"])
    assert saved["num_embeddings"] == int(given["num_embeddings"])


def test_payload_ids_exist_in_the_sample_model(trained):
    test_dir, _ = trained
    customers, products = model_ids(test_dir, "customers"), model_ids(test_dir, "products")
    for path in PAYLOADS.glob("*.json*"):
        for line in path.read_text().splitlines() if path.suffix == ".jsonl" else [path.read_text()]:
            request = json.loads(line)
            assert set(_as_list(request.get("customer_id", []))) - {UNKNOWN_CUSTOMER} <= customers, path.name
            assert set(_as_list(request.get("product_id", []))) <= products, path.name
    with (PAYLOADS / "ratings.csv").open() as rows:
        pairs = list(csv.DictReader(rows))
    assert {p["customer_id"] for p in pairs} <= customers and {p["product_id"] for p in pairs} <= products


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def test_train_local_runs_again_from_scratch(image, trained, tmp_path):
    test_dir = tmp_path / "again"
    shutil.copytree(trained[0], test_dir)
    assert any((test_dir / "checkpoints").iterdir())
    result = run_script("train_local.sh", image, env={"TEST_DIR": str(test_dir)}, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "epoch=1 " in result.stdout  # a fresh job, not resumed from the first run's checkpoint


def test_training_log_matches_every_metric_definition(trained):
    _, result = trained
    for definition in load_example().METRIC_DEFINITIONS:
        values = re.findall(definition["Regex"], result.stdout)
        assert values, definition
        assert all(float(v) >= 0 for v in values)


def test_ratings_json(server):
    assert_ratings(json.loads(predicted(server, "ratings.json")), 4)


def test_ratings_details_flag_the_unknown_customer(server):
    body = json.loads(predicted(server, "ratings_details.json"))
    assert body["unknown"] == [False, True]
    assert_ratings(body["predictions"], 2)


def test_ratings_csv_as_csv(server):
    lines = predicted(server, "ratings.csv", "text/csv", "text/csv").split()
    assert_ratings([float(line) for line in lines], 3)


def test_recommendations(server, trained):
    body = json.loads(predicted(server, "recommendations.json"))
    assert body["customer_id"] == "53641426" and not body["unknown"]
    assert len(body["recommendations"]) == 10
    assert {r["product_id"] for r in body["recommendations"]} <= model_ids(trained[0], "products")
    assert_ratings([r["predicted_rating"] for r in body["recommendations"]], 10)


def test_similar_products(server):
    body = json.loads(predicted(server, "similar_products.json"))
    similar = [s["product_id"] for s in body["similar"]]
    assert len(similar) == 5 and "B095P7AX5R" not in similar
    assert all(-1.0 <= s["similarity"] <= 1.0 for s in body["similar"])


def test_json_lines_one_answer_per_line(server):
    lines = predicted(server, "requests.jsonl", "", "application/jsonlines").strip().splitlines()
    ratings, recommendations, similar = (json.loads(line) for line in lines)
    assert_ratings(ratings, 2)
    assert len(recommendations["recommendations"]) == 3 and len(similar["similar"]) == 3


def test_predict_fails_loudly_with_the_server_error(server, tmp_path):
    payload = tmp_path / "mismatched.json"
    payload.write_text(json.dumps({"customer_id": ["a"], "product_id": ["b", "c"]}))
    result = predict(server, payload)
    assert result.returncode != 0
    assert "must pair up" in json.loads(result.stdout.strip())["error"]


def test_train_local_with_a_missing_image_says_how_to_build_it(image, tmp_path):
    result = run_script("train_local.sh", "mfrec:no-such-tag", env={"TEST_DIR": str(copy_test_dir(tmp_path))})
    assert result.returncode != 0
    assert "make image-cpu" in result.stderr


def test_serve_local_without_a_model_says_to_train_first(image, tmp_path):
    result = run_script("serve_local.sh", image, env={"MODEL_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "run train_local.sh first" in result.stderr


def test_ctrl_c_stops_serve_local(image, trained, tmp_path):
    process, _, name = start_server(image, trained[0] / "model", tmp_path / "serve.log")
    seconds = stop_server(process, name)
    assert process.returncode is not None and seconds < 20
    assert "Shutting down: Master" in (tmp_path / "serve.log").read_text()
