#!/usr/bin/env bash
# Serve the model train_local.sh wrote, as a SageMaker endpoint runs the image:
# the model folder is mounted as /opt/ml/model and the container runs `serve`.
# Runs in the foreground; Ctrl-C stops it.
# Usage: serve_local.sh [IMAGE]   (default mfrec:cpu)
# PORT=8080 (host port, bound to 127.0.0.1), MODEL_DIR=TEST_DIR/model,
# SERVE_CONTAINER=mfrec-local-serve-PORT; SAGEMAKER_MODEL_SERVER_WORKERS is passed on if set.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

IMAGE="${1:-mfrec:cpu}"
MODEL_DIR="${MODEL_DIR:-$TEST_DIR/model}"
SERVE_CONTAINER="${SERVE_CONTAINER:-mfrec-local-serve-$PORT}"
require_image "$IMAGE"
[[ -f "$MODEL_DIR/model.json" ]] || die "no model in $MODEL_DIR: run train_local.sh first"

workers=()
[[ -n "${SAGEMAKER_MODEL_SERVER_WORKERS:-}" ]] && workers=(-e "SAGEMAKER_MODEL_SERVER_WORKERS=$SAGEMAKER_MODEL_SERVER_WORKERS")

echo "serving $MODEL_DIR on http://localhost:$PORT (container $SERVE_CONTAINER); Ctrl-C stops it" >&2
exec docker run --rm --name "$SERVE_CONTAINER" -p "127.0.0.1:$PORT:8080" \
    "${workers[@]}" -v "$MODEL_DIR:/opt/ml/model:ro" "$IMAGE" serve
