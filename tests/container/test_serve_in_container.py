"""`docker run -p PORT:8080 IMAGE serve` with a model trained by the image, as SageMaker hosting runs it."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import requests
from container_helpers import docker, free_port, stop_with_sigterm, wait_for_ping

pytestmark = pytest.mark.container
START_WITHIN_S = 90
STOP_WITHIN_S = 25


@pytest.fixture
def server(image, trained_dir):
    """The serving container with trained_dir/model mounted read-only; yields (name, url)."""
    port = free_port()
    name = f"mfrec-serve-{uuid.uuid4().hex[:8]}"
    docker("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8080",
           "-e", "SAGEMAKER_MODEL_SERVER_WORKERS=2",
           "-v", f"{trained_dir / 'model'}:/opt/ml/model:ro", image, "serve")
    try:
        yield name, f"http://127.0.0.1:{port}"
    finally:
        docker("rm", "-f", name, check=False)


def test_serve_answers_ping_and_invocations(server, trained_dir):
    name, url = server
    assert wait_for_ping(url, START_WITHIN_S).status_code == 200
    customer = json.loads((trained_dir / "model" / "customers.json").read_text())["ids"][0]
    product = json.loads((trained_dir / "model" / "products.json").read_text())["ids"][0]
    pairs = requests.post(f"{url}/invocations", json={"customer_id": [customer], "product_id": [product]}, timeout=10)
    assert pairs.status_code == 200, pairs.text
    assert "json" in pairs.headers["Content-Type"]
    top = requests.post(f"{url}/invocations", json={"customer_id": customer, "top_k": 3}, timeout=10)
    assert top.status_code == 200, top.text
    bad = requests.post(f"{url}/invocations", data=b"{not json", headers={"Content-Type": "application/json"}, timeout=10)
    assert bad.status_code == 400


def test_serve_workers_run_as_model_server(server):
    name, url = server
    wait_for_ping(url, START_WITHIN_S)
    # Owners of the python processes running `serve`: gunicorn's master (root) and its workers.
    script = ('for p in /proc/[0-9]*; do [ $p = /proc/$$ ] && continue; '
              'case "$(tr \'\\0\' \' \' <$p/cmdline)" in *python*" /opt/venv/bin/serve"*) stat -c %U $p;; esac; done')
    # /ping answers once the first worker is up; the second may still be forking.
    deadline = time.monotonic() + START_WITHIN_S
    while True:
        owners = docker("exec", name, "sh", "-c", script).stdout.split()
        if owners.count("model-server") == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert owners.count("root") == 1 and owners.count("model-server") == 2, owners


def test_sigterm_stops_serve_promptly_and_cleanly(server):
    name, url = server
    wait_for_ping(url, START_WITHIN_S)
    exit_code, seconds = stop_with_sigterm(name)
    assert exit_code == 0, docker("logs", name).stderr[-3000:]
    assert seconds < STOP_WITHIN_S
