#!/usr/bin/env bash
# Run a training job as SageMaker does: test_dir is mounted as /opt/ml and the
# container runs `train`. Usage: train_local.sh [IMAGE]   (default mfrec:cpu)
# TEST_DIR=... picks another /opt/ml folder. Each run starts afresh: model/,
# output/ and checkpoints/ in TEST_DIR are emptied first (a leftover checkpoint
# would otherwise resume the previous job).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

IMAGE="${1:-mfrec:cpu}"
require_image "$IMAGE"
[[ -f "$TEST_DIR/input/config/hyperparameters.json" ]] \
    || die "$TEST_DIR is not a SageMaker /opt/ml folder: input/config/hyperparameters.json is missing"

rm -rf "$TEST_DIR/model" "$TEST_DIR/output" "$TEST_DIR/checkpoints" \
    || die "cannot empty $TEST_DIR's model/, output/ and checkpoints/ (an earlier run's container wrote them as root?)"
mkdir -p "$TEST_DIR/model" "$TEST_DIR/output"

docker run --rm -v "$TEST_DIR:/opt/ml" "$IMAGE" train \
    || die "training failed (exit $?); the reason is in $TEST_DIR/output/failure"

echo "model: $TEST_DIR/model"
echo "metrics and report: $TEST_DIR/output/data"
