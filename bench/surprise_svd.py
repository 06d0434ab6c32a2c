"""Surprise SVD and BaselineOnly on a given train/test split (runs in its own venv: see run_train_bench.sh).

Reads train.csv and test.csv of `user,item,rating` (header line, integer indices as written by
train_bench.py), fits each algorithm with Surprise's defaults on the whole training file and
prints one JSON line (prefixed "RESULT ") with test MSE (predictions clipped to the rating
scale, Surprise's default), fit seconds and ratings/s.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
from surprise import SVD, BaselineOnly, Dataset, Reader


def load(train_csv: str, test_csv: str, rating_scale: tuple[float, float]):
    reader = Reader(line_format="user item rating", sep=",", skip_lines=1, rating_scale=rating_scale)
    trainset = Dataset.load_from_file(train_csv, reader).build_full_trainset()
    with open(test_csv, encoding="utf-8") as stream:
        next(stream)
        testset = [(u, i, float(r)) for u, i, r in (line.rstrip("\n").split(",") for line in stream)]
    return trainset, testset


def fit_and_score(algorithm, trainset, testset, passes: int) -> dict:
    started = time.perf_counter()
    algorithm.fit(trainset)
    fit_seconds = time.perf_counter() - started
    predictions = algorithm.test(testset)
    errors = np.array([p.est - p.r_ui for p in predictions], dtype=np.float64)
    return {
        "test_mse": float(np.mean(errors ** 2)),
        "fit_seconds": round(fit_seconds, 3),
        "passes": passes,
        "ratings_per_s": round(passes * trainset.n_ratings / fit_seconds, 1),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train_csv")
    parser.add_argument("test_csv")
    parser.add_argument("--min-rating", type=float, default=1.0)
    parser.add_argument("--max-rating", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    trainset, testset = load(args.train_csv, args.test_csv, (args.min_rating, args.max_rating))
    load_seconds = time.perf_counter() - started
    print(f"loaded {trainset.n_ratings} train and {len(testset)} test ratings in {load_seconds:.1f}s", flush=True)

    svd = SVD(random_state=args.seed)
    results = {
        "load_seconds": round(load_seconds, 3),
        "train_ratings": trainset.n_ratings,
        "test_ratings": len(testset),
        "svd": fit_and_score(svd, trainset, testset, passes=svd.n_epochs),
        "baseline_only": fit_and_score(BaselineOnly(verbose=False), trainset, testset, passes=10),
    }
    for name in ("svd", "baseline_only"):
        print(f"{name}: test MSE {results[name]['test_mse']:.4f}, fit {results[name]['fit_seconds']:.1f}s", flush=True)
    print("RESULT " + json.dumps(results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
