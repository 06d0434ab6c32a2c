"""Load test of the real `serve` (gunicorn) on loopback, plus in-process predictor timings.

    python bench/serve_load.py [--model-source random|trained] [--duration 30] [--concurrency 8]

Model: `random` saves a randomly initialised MFBlock of realistic size (100 K customers, 35 K
products, 64 factors) with artifacts.save_model; `trained` generates reviews with mfrec-generate
and trains with `python -m mfrec.train`. The load comes from wrk (a second process) with a Lua
script cycling through pre-built request bodies. Prints one report; --out also writes it to a file.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

BIN = Path(sys.executable).parent
WRK_SCRIPT = """
local bodies = {}
local path = os.getenv("BENCH_BODIES") or ""
if path ~= "" then for line in io.lines(path) do bodies[#bodies + 1] = line end end
local method = os.getenv("BENCH_METHOD") or "GET"
local target = os.getenv("BENCH_PATH") or "/ping"
local headers = {["Content-Type"] = "application/json"}
local i = 0
request = function()
  if #bodies == 0 then return wrk.format(method, target) end
  i = i % #bodies + 1
  return wrk.format(method, target, headers, bodies[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCH {"requests": %d, "duration_us": %d, "socket_errors": %d, "status_errors": %d, "p50_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
"""


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-source", choices=("random", "trained"), default="random")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--products", type=int, default=35_000)
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--rows", type=int, default=2_000_000, help="generated reviews for --model-source trained")
    parser.add_argument("--duration", type=int, default=30, help="seconds per wrk run")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    return parser.parse_args(argv)


def build_random_model(base: Path, customers: int, products: int, factors: int) -> str:
    import mxnet as mx

    from mfrec.artifacts import History, ProductTable, save_model
    from mfrec.idmap import IdMap
    from mfrec.model import Architecture, MFBlock

    rng = np.random.default_rng(0)
    mx.random.seed(0)
    block = MFBlock(Architecture(customers, products, factors), sparse_grad=False)
    block.initialize(mx.init.Normal(0.3), ctx=mx.cpu())
    block.global_bias.set_data(mx.nd.array([4.2]))
    reviews_per_customer = np.minimum(rng.zipf(1.8, customers), 200)
    users = np.repeat(np.arange(customers), reviews_per_customer)
    popularity = rng.lognormal(0, 1.5, products)
    items = rng.choice(products, size=users.size, p=popularity / popularity.sum())
    unique = np.unique(users.astype(np.int64) * products + items)
    users, items = unique // products, unique % products
    table = ProductTable(
        count=np.bincount(items, minlength=products),
        mean_rating=rng.uniform(1, 5, products).round(2),
        title=np.array([f"Product title {i}" for i in range(products)], dtype=object),
    )
    save_model(
        base / "model", block, {"global_mean": 4.2, "rating_range": [1.0, 5.0]},
        IdMap([f"C{i:08d}" for i in range(customers)]), IdMap([f"B{i:09d}" for i in range(products)]),
        table, History.from_pairs(users, items, customers),
    )
    return f"random MFBlock saved with artifacts.save_model ({customers} customers, {products} products, {factors} factors, {users.size} history reviews)"


def build_trained_model(base: Path, rows: int) -> str:
    train_dir = base / "input" / "data" / "train"
    train_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run([BIN / "mfrec-generate", "--rows", str(rows), "--out", train_dir / "reviews.tsv.gz"], check=True)
    subprocess.run([sys.executable, "-m", "mfrec.train"], env={**os.environ, "SAGEMAKER_BASE_DIR": str(base)}, check=True)
    return f"trained by `python -m mfrec.train` on {rows} reviews from mfrec-generate"


def load_predictor(base: Path):
    """The predictor as `serve` builds it, BLAS pinned to one thread as in its workers."""
    from mfrec.artifacts import load_model
    from mfrec.serving.blas import limit_blas_threads
    from mfrec.serving.predictor import ModelTables, Predictor

    predictor = Predictor(ModelTables.from_loaded_model(load_model(base / "model")))
    limit_blas_threads(1)
    return predictor


def time_in_process(predictor, rng) -> dict:
    customers = predictor.tables.customers.raw_ids
    products = predictor.tables.products.raw_ids
    top_k = []
    for customer in rng.choice(customers, 500):
        started = time.perf_counter()
        predictor.top_k([customer], 10)
        top_k.append(time.perf_counter() - started)
    pairs = []
    for _ in range(500):
        c, p = list(rng.choice(customers, 100)), list(rng.choice(products, 100))
        started = time.perf_counter()
        predictor.score_pairs(c, p)
        pairs.append(time.perf_counter() - started)
    return {"top10": _percentiles_ms(top_k), "pairs100": _percentiles_ms(pairs)}


def _percentiles_ms(seconds) -> tuple[float, float]:
    return float(np.percentile(seconds, 50) * 1e3), float(np.percentile(seconds, 99) * 1e3)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(base: Path, port: int, workers: int, log_path: Path) -> subprocess.Popen:
    env = {**os.environ, "SAGEMAKER_BASE_DIR": str(base), "SAGEMAKER_BIND_TO_PORT": str(port),
           "SAGEMAKER_MODEL_SERVER_WORKERS": str(workers), "MFREC_SERVE_USER": "none"}
    log = log_path.open("w")
    server = subprocess.Popen([BIN / "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"serve exited with {server.returncode}; see {log_path}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/ping", timeout=1).status_code == 200:
                return server
        except requests.ConnectionError:
            time.sleep(0.2)
    raise SystemExit("serve did not come up")


def write_bodies(path: Path, bodies: list[dict]) -> Path:
    path.write_text("".join(json.dumps(body, separators=(",", ":")) + "\n" for body in bodies))
    return path


def run_wrk(url: str, script: Path, duration: int, concurrency: int, method="GET", path="/ping", bodies: Path | None = None) -> dict:
    env = {**os.environ, "BENCH_METHOD": method, "BENCH_PATH": path, "BENCH_BODIES": str(bodies or "")}
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{duration}s", "--timeout", "10s", "-s", str(script), url]
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    result = json.loads(next(line for line in output.splitlines() if line.startswith("BENCH "))[6:])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def measured(master_pid: int, url: str, script: Path, args, *wrk_args) -> dict:
    """A wrk run plus the CPU time the workers spent per request (robust on a shared host)."""
    before = workers_cpu_seconds(master_pid)
    result = run_wrk(url, script, args.duration, args.concurrency, *wrk_args)
    result["cpu_ms_per_request"] = (workers_cpu_seconds(master_pid) - before) / max(result["requests"], 1) * 1e3
    return result


def workers_cpu_seconds(master_pid: int) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def worker_memory_mb(master_pid: int) -> list[tuple[int, float, float]]:
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    return [(int(pid), _status_kb(pid, "VmRSS:") / 1024, _pss_kb(pid) / 1024) for pid in children]


def _status_kb(pid, field: str) -> int:
    line = next(l for l in Path(f"/proc/{pid}/status").read_text().splitlines() if l.startswith(field))
    return int(line.split()[1])


def _pss_kb(pid) -> int:
    line = next(l for l in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines() if l.startswith("Pss:"))
    return int(line.split()[1])


def notebook_vs_top_k(url: str, customer: str, products: list[str], repeats: int = 5) -> tuple[float, float, int]:
    """Median seconds to rank all products the notebook's way (~1 K pairs per call) and with one top-K call."""
    session = requests.Session()
    chunks = [products[i:i + 1000] for i in range(0, len(products), 1000)]
    notebook, top_k = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        ratings = []
        for chunk in chunks:
            response = session.post(f"{url}/invocations", json={"customer_id": [customer] * len(chunk), "product_id": chunk})
            ratings.extend(response.json())
        np.argsort(ratings)[-10:]
        notebook.append(time.perf_counter() - started)
        started = time.perf_counter()
        session.post(f"{url}/invocations", json={"customer_id": customer, "top_k": 10}).raise_for_status()
        top_k.append(time.perf_counter() - started)
    return float(np.median(notebook)), float(np.median(top_k)), len(chunks)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    base = args.workdir or Path(tempfile.mkdtemp(prefix="mfrec-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if args.model_source == "random":
        source = build_random_model(base, args.customers, args.products, args.factors)
    else:
        source = build_trained_model(base, args.rows)
    predictor = load_predictor(base)
    rng = np.random.default_rng(1)
    in_process = time_in_process(predictor, rng)
    customers = [str(c) for c in predictor.tables.customers.raw_ids]
    products = [str(p) for p in predictor.tables.products.raw_ids]

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(base, port, args.workers, base / "serve.log")
    script = base / "bench.lua"
    script.write_text(WRK_SCRIPT)
    pair_bodies = write_bodies(base / "pairs.jsonl", [
        {"customer_id": list(rng.choice(customers, 100)), "product_id": list(rng.choice(products, 100))} for _ in range(200)
    ])
    top_bodies = write_bodies(base / "top10.jsonl", [{"customer_id": str(c), "top_k": 10} for c in rng.choice(customers, 200)])
    try:
        runs = {
            "GET /ping": measured(server.pid, url, script, args),
            "POST 100 pairs": measured(server.pid, url, script, args, "POST", "/invocations", pair_bodies),
            "POST top-10": measured(server.pid, url, script, args, "POST", "/invocations", top_bodies),
        }
        memory = worker_memory_mb(server.pid)
        notebook_s, top_k_s, calls = notebook_vs_top_k(url, customers[0], products)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    report = format_report(args, source, predictor, in_process, runs, memory, notebook_s, top_k_s, calls, server.returncode)
    print(report)
    if args.out:
        args.out.write_text(report)
    print(f"(total {time.perf_counter() - started:.0f} s; work dir {base})", file=sys.stderr)
    return 0


def format_report(args, source, predictor, in_process, runs, memory, notebook_s, top_k_s, calls, exit_code) -> str:
    ping_rps = runs["GET /ping"]["rps"]
    lines = [
        "mfrec serve load benchmark (bench/serve_load.py)",
        f"model: {source}",
        f"host: {os.cpu_count()} CPUs (shared), serve workers={args.workers} (gthread, 4 threads), "
        f"wrk -t1 -c{args.concurrency} -d{args.duration}s on loopback",
        "",
        "in-process predictor (500 calls each):",
        f"  top_k(k=10) over {predictor.num_products} products: p50 {in_process['top10'][0]:.2f} ms, p99 {in_process['top10'][1]:.2f} ms"
        f"  [target p50 < 10 ms: {'OK' if in_process['top10'][0] < 10 else 'MISSED'}]",
        f"  score_pairs(100): p50 {in_process['pairs100'][0]:.2f} ms, p99 {in_process['pairs100'][1]:.2f} ms",
        "",
        f"{'HTTP load':<16}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}{'vs ping':>9}{'worker CPU ms/req':>19}",
    ]
    for name, run in runs.items():
        errors = run["socket_errors"] + run["status_errors"]
        lines.append(f"{name:<16}{run['rps']:>10.0f}{run['p50_us'] / 1e3:>10.2f}{run['p99_us'] / 1e3:>10.2f}{errors:>8}"
                     f"{run['rps'] / ping_rps:>9.0%}{run['cpu_ms_per_request']:>19.3f}")
    pairs_ratio = runs["POST 100 pairs"]["rps"] / ping_rps
    cpu_ratio = runs["GET /ping"]["cpu_ms_per_request"] / runs["POST 100 pairs"]["cpu_ms_per_request"]
    total_errors = sum(r["socket_errors"] + r["status_errors"] for r in runs.values())
    lines += [
        f"targets: 0 errors: {'OK' if total_errors == 0 else 'MISSED'}; 100-pair req/s >= 50% of ping: "
        f"{'OK' if pairs_ratio >= 0.5 else 'MISSED'} ({pairs_ratio:.0%} measured; "
        f"{cpu_ratio:.0%} by worker CPU per request, which other load on the host disturbs less)",
        "",
        "memory after load (RSS counts shared pages in every process; PSS splits them):",
        *[f"  worker {pid}: RSS {rss:.0f} MB, PSS {pss:.0f} MB" for pid, rss, pss in memory],
        "",
        f"ranking all products for one customer: notebook way ({calls} calls of <=1000 pairs) {notebook_s * 1e3:.0f} ms"
        f" vs one top-10 call {top_k_s * 1e3:.1f} ms -> {notebook_s / top_k_s:.0f}x",
        f"serve exit code after SIGTERM: {exit_code}",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
