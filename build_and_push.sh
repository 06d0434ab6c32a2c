#!/usr/bin/env bash
# Build the mfrec image for linux/amd64 and push it to Amazon ECR, creating the
# repository if missing. Run from anywhere; `./build_and_push.sh -h` for usage.
# stdout carries one line, the pushed image URI; progress goes to stderr.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: ./build_and_push.sh [-f cpu|gpu] [-t TAG] [-n IMAGE_NAME] [--no-build]

  -f, --flavour   cpu (Dockerfile.cpu, default) or gpu (Dockerfile.gpu)   env IMAGE_FLAVOUR
  -t, --tag       image tag (default: git short sha, "-dirty" if tracked
                  files are modified)                                      env IMAGE_TAG
  -n, --name      image and ECR repository name (default: mfrec)          env IMAGE_NAME
  --no-build      push the local IMAGE_NAME:FLAVOUR as it is              env NO_BUILD=1

Pushes ECR_REPOSITORY:TAG and ECR_REPOSITORY:latest (cpu), or
ECR_REPOSITORY:TAG-gpu and ECR_REPOSITORY:latest-gpu (gpu).
The local image IMAGE_NAME:FLAVOUR is built by `make image-FLAVOUR` with
`docker build --platform linux/amd64`; OFFLINE=1 selects the offline route and
BUILD_ARGS adds arguments to docker build.
Region: AWS_REGION, else AWS_DEFAULT_REGION, else `aws configure get region`.
ECR_REGISTRY=HOST[:PORT] replaces the registry host ECR reports (tests only).
EOF
}

die() { echo "build_and_push.sh: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }

flavour="${IMAGE_FLAVOUR:-cpu}"
tag="${IMAGE_TAG:-}"
name="${IMAGE_NAME:-mfrec}"
no_build="${NO_BUILD:-0}"

parse_arguments() {
    while (($#)); do
        case "$1" in
            -f|--flavour) (($# >= 2)) || die "$1 needs a value"; flavour="$2"; shift 2 ;;
            -t|--tag) (($# >= 2)) || die "$1 needs a value"; tag="$2"; shift 2 ;;
            -n|--name) (($# >= 2)) || die "$1 needs a value"; name="$2"; shift 2 ;;
            --no-build) no_build=1; shift ;;
            -h|--help) usage; exit 0 ;;
            *) usage >&2; die "unknown argument: $1" ;;
        esac
    done
    [[ "$flavour" == cpu || "$flavour" == gpu ]] || die "flavour must be cpu or gpu, not '$flavour'"
}

require_commands() {
    local command
    for command in "$@"; do
        command -v "$command" >/dev/null || die "'$command' is not installed"
    done
}

default_tag() {
    git rev-parse --is-inside-work-tree >/dev/null 2>&1 || die "not a git checkout: give a tag with -t"
    local sha
    sha="$(git rev-parse --short HEAD)"
    if git diff --quiet HEAD --; then echo "$sha"; else echo "$sha-dirty"; fi
}

aws_region() {
    local region="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
    [[ -n "$region" ]] || region="$(aws configure get region 2>/dev/null || true)"
    [[ -n "$region" ]] || die "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION), or run 'aws configure set region REGION'"
    echo "$region"
}

# Prints the repository URI, creating the repository when ECR reports it missing.
ensure_repository() {
    local region="$1" uri errors
    errors="$(mktemp)"
    if uri="$(aws ecr describe-repositories --region "$region" --repository-names "$name" \
            --query 'repositories[0].repositoryUri' --output text 2>"$errors")"; then
        rm -f "$errors"
        echo "$uri"
        return
    fi
    if ! grep -q RepositoryNotFoundException "$errors"; then
        cat "$errors" >&2
        rm -f "$errors"
        die "could not describe ECR repository $name"
    fi
    rm -f "$errors"
    log "creating ECR repository $name"
    aws ecr create-repository --region "$region" --repository-name "$name" \
        --image-scanning-configuration scanOnPush=true \
        --query 'repository.repositoryUri' --output text
}

image_id_of() {
    docker image inspect --format '{{.Id}}' "$1" 2>/dev/null \
        || die "local image $1 not found (build it, or drop --no-build)"
}

build_image() {
    local local_image="$1"
    log "building $local_image (Dockerfile.$flavour, linux/amd64, OFFLINE=${OFFLINE:-0})"
    make "image-$flavour" "IMAGE_${flavour^^}=$local_image" \
        DOCKER_BUILD="docker build --platform linux/amd64 ${BUILD_ARGS:-}" >&2
}

main() {
    cd "$(dirname "$(readlink -f "$0")")"
    parse_arguments "$@"
    require_commands aws docker
    ((no_build)) || require_commands make
    [[ -n "$tag" ]] || tag="$(default_tag)"
    [[ "$tag" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,119}$ ]] || die "invalid image tag '$tag'"
    [[ "$name" =~ ^[a-z0-9]+([._/-][a-z0-9]+)*$ ]] || die "invalid repository name '$name' (lowercase letters, digits, . _ - /)"
    local suffix="" local_image="$name:$flavour"
    if [[ "$flavour" == gpu ]]; then suffix="-gpu"; fi

    # Both tags are made from one image id, even if $local_image is retagged meanwhile.
    local image_id=""
    if ((no_build)); then image_id="$(image_id_of "$local_image")"; fi

    local region account repository registry
    region="$(aws_region)"
    account="$(aws sts get-caller-identity --region "$region" --query Account --output text)" \
        || die "AWS credentials do not work (aws sts get-caller-identity failed)"
    log "account $account, region $region"
    repository="$(ensure_repository "$region")"
    registry="${ECR_REGISTRY:-${repository%%/*}}"
    repository="$registry/$name"

    if ((!no_build)); then
        build_image "$local_image"
        image_id="$(image_id_of "$local_image")"
    fi
    log "image $local_image = $image_id"

    log "docker login $registry"
    aws ecr get-login-password --region "$region" \
        | docker login --username AWS --password-stdin "$registry" >&2

    local pushed_tag
    for pushed_tag in "$tag$suffix" "latest$suffix"; do
        docker tag "$image_id" "$repository:$pushed_tag"
        log "pushing $repository:$pushed_tag"
        docker push "$repository:$pushed_tag" >&2
    done
    echo "$repository:$tag$suffix"
}

main "$@"
