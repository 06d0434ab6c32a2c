#!/bin/sh
# Builder stage only: a C compiler for sagemaker-training's extension, and
# Python headers when the base image's python does not ship them (Debian's).
set -eu
apt-get update
apt-get install -y --no-install-recommends gcc libc6-dev
if ! python3 -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
    apt-get install -y --no-install-recommends python3-dev
fi
rm -rf /var/lib/apt/lists/*
