#!/bin/sh
# Build-time checks of the final image; any failure fails the build.
set -eu
for script in train serve; do
    path="$(command -v "$script")"
    # sagemaker-training installs a `train` too: ours must be the one on PATH.
    grep -q "from mfrec" "$path" || { echo "$path is not mfrec's $script" >&2; exit 1; }
done
for compiler in gcc cc c++ g++; do
    if command -v "$compiler" >/dev/null; then echo "compiler $compiler left in image" >&2; exit 1; fi
done
if [ -e /opt/ml ]; then echo "/opt/ml must not be baked into the image" >&2; exit 1; fi
id model-server >/dev/null
test -x /usr/bin/tini
