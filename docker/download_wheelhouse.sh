#!/usr/bin/env bash
# Download every package an image installs into a local folder, so the image
# can be built with `pip install --no-index --find-links` where pip inside the
# build cannot reach PyPI. Wheels are fetched for the image's platform
# (CPython 3.11, glibc 2.36 = Debian bookworm), whatever the host runs.
# Usage: docker/download_wheelhouse.sh REQUIREMENTS_FILE DEST_DIR
set -euo pipefail

requirements="$1"
dest="$2"
here="$(cd "$(dirname "$0")" && pwd)"
build_requirements="$here/requirements-build.txt"
python="${PYTHON:-python3}"
# Published only as source; built inside the image's builder stage.
sdist_only_regex='^(sagemaker[-_]training|inotify[-_]simple)=='

stamp="$dest/.requirements.sha256"
digest="$(cat "$requirements" "$build_requirements" "$0" | sha256sum | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$digest" ]]; then
    echo "wheelhouse $dest is up to date"
    exit 0
fi

pins="$(mktemp)"
trap 'rm -f "$pins"' EXIT
grep -h -v -E '^\s*(#|$)' "$requirements" "$build_requirements" | sed 's/\s*#.*//' >"$pins"

platforms=(--platform manylinux2014_x86_64 --platform manylinux2010_x86_64 --platform manylinux1_x86_64)
for minor in $(seq 5 36); do
    platforms+=(--platform "manylinux_2_${minor}_x86_64")
done

mkdir -p "$dest"
rm -f "$stamp"
grep -v -i -E "$sdist_only_regex" "$pins" | "$python" -m pip download \
    --disable-pip-version-check --no-deps --only-binary=:all: \
    --python-version 3.11 --implementation cp --abi cp311 "${platforms[@]}" \
    --dest "$dest" -r /dev/stdin
grep -i -E "$sdist_only_regex" "$pins" | "$python" -m pip download \
    --disable-pip-version-check --no-deps --no-binary=:all: \
    --dest "$dest" -r /dev/stdin
echo "$digest" >"$stamp"
echo "wheelhouse $dest: $(find "$dest" -maxdepth 1 -type f -name '*.*' ! -name '.*' | wc -l) files, $(du -sh "$dest" | cut -f1)"
