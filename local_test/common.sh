# shellcheck shell=bash
# Sourced by the local_test scripts: paths, loud failures, Docker checks.
LOCAL_TEST_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TEST_DIR="${TEST_DIR:-$LOCAL_TEST_DIR/test_dir}"
PORT="${PORT:-8080}"

die() {
    echo "$(basename "$0"): $*" >&2
    exit 1
}

require_image() {
    local image=$1
    command -v docker >/dev/null || die "the docker command is not installed"
    docker info >/dev/null 2>&1 || die "the Docker engine does not answer (is dockerd running? may you use it?)"
    docker image inspect "$image" >/dev/null 2>&1 \
        || die "image $image not found: build it with \`make image-cpu\` (or \`make image-cpu OFFLINE=1\`)"
}
