#!/bin/sh
# Final stage: the shared libraries libmxnet.so loads from the system, tini as
# PID 1 (forwards SIGTERM to train/serve), and the user serve drops workers to.
set -eu
apt-get update
apt-get install -y --no-install-recommends libgomp1 libquadmath0 libstdc++6 tini
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log
useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin model-server
