#!/usr/bin/env bash
# The main job end to end on generated data: train in the image as SageMaker does, serve the
# model, ask it for recommendations for one customer and for ratings as the notebook did.
# Usage: demo.sh [IMAGE] (default mfrec:cpu). DEMO_ROWS (default 300000), PORT (default 8080),
# DEMO_DIR (the /opt/ml folder, default .work/demo), PYTHON (with the package installed).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

IMAGE="${1:-mfrec:cpu}"
ROWS="${DEMO_ROWS:-300000}"
PYTHON="${PYTHON:-python3}"
WORK="${DEMO_DIR:-$LOCAL_TEST_DIR/../.work/demo}"
require_image "$IMAGE"

rm -rf "$WORK" || die "cannot empty $WORK"
mkdir -p "$WORK/input/config" "$WORK/input/data/train"
echo "== generating $ROWS reviews (amazon_reviews_us TSV schema) into $WORK/input/data/train"
"$PYTHON" -m mfrec.data.generate --rows "$ROWS" --seed 0 --out "$WORK/input/data/train/reviews.tsv.gz" >/dev/null \
    || die "the generator failed (is the package installed in $PYTHON? run docker/setup_host.sh)"
echo '{}' >"$WORK/input/config/hyperparameters.json"
echo '{"train": {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated"}}' >"$WORK/input/config/inputdataconfig.json"
echo '{"current_host": "algo-1", "hosts": ["algo-1"]}' >"$WORK/input/config/resourceconfig.json"

echo "== docker run $IMAGE train (default hyperparameters)"
docker run --rm -v "$WORK:/opt/ml" "$IMAGE" train | grep -E "epoch=|test_|baseline_|data ready|model written" \
    || die "training failed; the reason is in $WORK/output/failure"

NAME="mfrec-demo-$$"
echo "== docker run -p $PORT:8080 $IMAGE serve"
docker run -d --rm --name "$NAME" -p "127.0.0.1:$PORT:8080" -v "$WORK/model:/opt/ml/model:ro" "$IMAGE" serve >/dev/null
trap 'docker stop -t 30 "$NAME" >/dev/null 2>&1 || true' EXIT
for _ in $(seq 120); do
    curl -fsS "http://127.0.0.1:$PORT/ping" >/dev/null 2>&1 && break
    sleep 0.5
done
curl -fsS "http://127.0.0.1:$PORT/ping" >/dev/null || { docker logs "$NAME" >&2; die "serve did not answer /ping"; }

CUSTOMER=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["ids"][0])' "$WORK/model/customers.json")
PRODUCTS=$("$PYTHON" -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["ids"][:3]))' "$WORK/model/products.json")
echo "== top 5 recommendations for customer $CUSTOMER"
curl -fsS -H 'Content-Type: application/json' "http://127.0.0.1:$PORT/invocations" \
    -d "{\"customer_id\": \"$CUSTOMER\", \"top_k\": 5}" | "$PYTHON" -m json.tool
echo "== predicted ratings, as the notebook asked: customer $CUSTOMER x $PRODUCTS"
curl -fsS -H 'Content-Type: application/json' "http://127.0.0.1:$PORT/invocations" \
    -d "{\"customer_id\": [\"$CUSTOMER\", \"$CUSTOMER\", \"$CUSTOMER\"], \"product_id\": $PRODUCTS}"
echo
echo "== metrics and plots: $WORK/output/data"
