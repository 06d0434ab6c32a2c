"""Training throughput on one machine: one process vs 1 and 2 parameter-server workers on loopback.

    python bench/distributed_bench.py --rows 200000 --out bench/results/distributed.txt

Every configuration runs the real `train` on the same generated reviews. Each worker logs
ratings_per_s for its own shard; a job's figure is the sum over workers of the median
epoch rate (the first epoch, which includes the kvstore's start-up, is left out).
On a machine with fewer cores than processes no speed-up is possible: the figures show
what the parameter server costs (dense gradients of both embedding tables, pushed and
pulled every step).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mfrec.data.generate import write_reviews
from mfrec.distributed import free_port_pair

RATE = re.compile(r" epoch=(\d+) .*ratings_per_s=(\d+)")


def make_host(root: Path, data: Path, hp: dict, host: str, hosts: list[str]) -> Path:
    config = root / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps(hp))
    (config / "resourceconfig.json").write_text(json.dumps(
        {"current_host": host, "hosts": hosts, "network_interface_name": "lo"}))
    (config / "inputdataconfig.json").write_text(json.dumps({"train": {"TrainingInputMode": "File"}}))
    channel = root / "input" / "data" / "train"
    channel.mkdir(parents=True)
    (channel / data.name).symlink_to(data)
    return root


def run_job(scratch: Path, data: Path, hp: dict, workers: int) -> dict:
    hosts = [f"127.0.0.{i + 1}" for i in range(workers)]
    port = free_port_pair()
    processes, logs = [], []
    started = time.perf_counter()
    for host in hosts:
        base = make_host(scratch / host, data, hp, host, hosts)
        log = base / "train.log"
        env = {**os.environ, "SAGEMAKER_BASE_DIR": str(base), "MFREC_PS_PORT": str(port)}
        processes.append(subprocess.Popen([sys.executable, "-m", "mfrec.train"], env=env,
                                          stdout=log.open("w"), stderr=subprocess.STDOUT))
        logs.append(log)
    codes = [p.wait(timeout=3600) for p in processes]
    seconds = time.perf_counter() - started
    if any(codes):
        raise RuntimeError(f"exit codes {codes}:\n" + "\n".join(log.read_text()[-2000:] for log in logs))
    rates = [[int(r) for e, r in RATE.findall(log.read_text()) if int(e) > 1] for log in logs]
    metrics = json.loads((scratch / hosts[0] / "output" / "data" / "metrics.json").read_text())
    return {"ratings_per_s": sum(statistics.median(r) for r in rates), "wall_s": seconds,
            "test_mse": metrics["test_mse"], "train_ratings": metrics["data"]["train_ratings"],
            "customers": metrics["data"]["customers"], "products": metrics["data"]["products"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--num-embeddings", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--out", type=Path, help="append the table to this file")
    args = parser.parse_args()
    base_hp = {"epochs": str(args.epochs), "num_embeddings": str(args.num_embeddings),
               "batch_size": str(args.batch_size), "early_stopping_patience": "0", "eval_max_customers": "1000"}
    runs = [("1 process, local (sparse grads)", 1, {}),
            ("1 worker, dist_sync", 1, {"kvstore": "dist_sync"}),
            ("2 workers, dist_sync", 2, {"kvstore": "dist_sync"}),
            ("2 workers, dist_async", 2, {"kvstore": "dist_async"})]
    lines = [f"# distributed_bench: {args.rows} generated rows, epochs={args.epochs}, "
             f"num_embeddings={args.num_embeddings}, batch_size={args.batch_size} per worker",
             f"# {platform.node()} {os.cpu_count()} cores (shared), python {platform.python_version()}, "
             f"{time.strftime('%Y-%m-%d %H:%M')}"]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "reviews.tsv.gz"
        write_reviews(data, args.rows, seed=11)
        table = []
        for name, workers, extra in runs:
            result = run_job(Path(tmp) / name.replace(" ", "_").replace(",", ""), data, {**base_hp, **extra}, workers)
            table.append((name, result))
            print(name, json.dumps(result), flush=True)
    first = table[0][1]
    lines.append(f"# train ratings {first['train_ratings']}, customers {first['customers']}, products {first['products']}")
    lines.append(f"{'configuration':34s} {'ratings/s':>10s} {'vs local':>8s} {'wall s':>7s} {'test_mse':>8s}")
    for name, result in table:
        lines.append(f"{name:34s} {result['ratings_per_s']:10.0f} {result['ratings_per_s'] / first['ratings_per_s']:8.2f} "
                     f"{result['wall_s']:7.1f} {result['test_mse']:8.4f}")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a") as out:  # one block per run: sizes accumulate
            out.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
