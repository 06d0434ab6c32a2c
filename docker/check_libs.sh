#!/bin/sh
# GPU image, build time: every shared library that libmxnet.so and the CUDA wheels'
# libraries need must resolve, except the host driver's (libcuda.so.1, libnvidia-*),
# which the NVIDIA container toolkit mounts at run time. Never imports mxnet: that
# needs the driver.
set -eu
site="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
status=0
for library in "$site"/mxnet/libmxnet.so "$site"/nvidia/*/lib/*.so*; do
    missing="$(ldd "$library" | grep 'not found' | grep -v -E 'libcuda\.so\.1|libnvidia-' || true)"
    if [ -n "$missing" ]; then
        echo "$library:" >&2
        echo "$missing" >&2
        status=1
    fi
done
[ "$status" = 0 ] && echo "check_libs: all libraries of libmxnet.so resolve (driver's libcuda.so.1 aside)"
exit "$status"
