#!/usr/bin/env bash
# Training benchmark: notebook vs `train` vs Surprise. Creates the Surprise venv when missing.
# Env: PYTHON (interpreter with mfrec + mxnet, default /opt/venv/bin/python),
#      SURPRISE_VENV (default <repo>/.work/surprise-venv), BASE_PYTHON (creates that venv, default python3).
# Extra arguments go to bench/train_bench.py (e.g. --data FILE, --notebook-max-batches N).
# Output: stdout and bench/results/train.txt.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-/opt/venv/bin/python}
SURPRISE_VENV=${SURPRISE_VENV:-$REPO/.work/surprise-venv}
BASE_PYTHON=${BASE_PYTHON:-python3}

ensure_surprise_venv() {
    if [ -x "$SURPRISE_VENV/bin/python" ] && "$SURPRISE_VENV/bin/python" -c "import surprise" 2>/dev/null; then
        return
    fi
    echo "creating the Surprise venv in $SURPRISE_VENV" >&2
    "$BASE_PYTHON" -m venv "$SURPRISE_VENV"
    "$SURPRISE_VENV/bin/pip" install --quiet --upgrade pip
    if ! "$SURPRISE_VENV/bin/pip" install --quiet scikit-surprise; then
        echo "scikit-surprise did not build in isolation; retrying with numpy and cython preinstalled" >&2
        "$SURPRISE_VENV/bin/pip" install --quiet numpy cython setuptools
        "$SURPRISE_VENV/bin/pip" install --quiet --no-build-isolation scikit-surprise
    fi
}

ensure_surprise_venv
mkdir -p "$REPO/bench/results"
partial="$REPO/bench/results/train.txt.partial"
cd "$REPO"
set +e
"$PYTHON" bench/train_bench.py --surprise-python "$SURPRISE_VENV/bin/python" "$@" 2>&1 | tee "$partial"
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
    echo "benchmark failed (exit $status); partial output in $partial" >&2
    exit "$status"
fi
mv "$partial" "$REPO/bench/results/train.txt"
