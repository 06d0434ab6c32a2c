"""Two containers of the image on one docker network, named and resolved as SageMaker names
hosts (algo-1, algo-2), each with its own /opt/ml and resourceconfig.json: one model trained
across both, written by algo-1 only."""

from __future__ import annotations

import json
import uuid

import pytest
from container_helpers import docker, make_sagemaker_dir

pytestmark = pytest.mark.container
HOSTS = ["algo-1", "algo-2"]
HYPERPARAMETERS = {
    "epochs": "3", "num_embeddings": "16", "min_customer_reviews": "2", "min_product_reviews": "2",
    "eval_max_customers": "200", "batch_size": "1024",
}


def _host_dirs(tmp_path, hyperparameters):
    dirs = {}
    for host in HOSTS:
        root = make_sagemaker_dir(tmp_path / host, rows=20000, hyperparameters=hyperparameters)
        (root / "input" / "config" / "resourceconfig.json").write_text(json.dumps(
            {"current_host": host, "hosts": HOSTS, "network_interface_name": "eth0"}))
        dirs[host] = root
    return dirs


def _run_cluster(image, dirs, within_s=600) -> dict[str, tuple[int, str]]:
    """Start algo-2 first (algo-1's name must resolve late), then algo-1; exit code and log of each."""
    network = f"mfrec-net-{uuid.uuid4().hex[:8]}"
    names = {host: f"{host}-{uuid.uuid4().hex[:6]}" for host in HOSTS}
    docker("network", "create", network)
    try:
        for host in reversed(HOSTS):
            docker("run", "-d", "--name", names[host], "--hostname", host, "--network", network,
                   "--network-alias", host, "-v", f"{dirs[host]}:/opt/ml", image, "train")
        results = {}
        for host in HOSTS:
            code = int(docker("wait", names[host], timeout=within_s).stdout.strip())
            log = docker("logs", names[host], check=False)
            results[host] = (code, log.stdout[-4000:] + log.stderr[-4000:])
        return results
    finally:
        for name in names.values():
            docker("rm", "-f", name, check=False)
        docker("network", "rm", network, check=False)


def test_two_containers_train_one_model_written_by_algo_1(image, tmp_path):
    dirs = _host_dirs(tmp_path, HYPERPARAMETERS)
    results = _run_cluster(image, dirs)
    assert {host: code for host, (code, _) in results.items()} == {"algo-1": 0, "algo-2": 0}, results
    assert "cluster of 2 host(s) algo-1,algo-2" in results["algo-2"][1]
    metrics = json.loads((dirs["algo-1"] / "output" / "data" / "metrics.json").read_text())
    assert 0 < metrics["test_mse"] < metrics["baselines"]["global_mean"]["mse"]
    assert (dirs["algo-1"] / "model" / "model.params").exists()
    assert not (dirs["algo-2"] / "output" / "data" / "metrics.json").exists()


def test_a_failing_container_fails_the_other_with_the_reason(image, tmp_path):
    dirs = _host_dirs(tmp_path, HYPERPARAMETERS)
    (dirs["algo-2"] / "input" / "config" / "hyperparameters.json").write_text(json.dumps({"epochs": "zero"}))
    results = _run_cluster(image, dirs, within_s=300)
    assert {host: code for host, (code, _) in results.items()} == {"algo-1": 1, "algo-2": 1}, results
    assert (dirs["algo-1"] / "output" / "failure").read_text().startswith("host algo-2 failed: UserError")
