# Images, offline build, tests. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
# Resolved when used, so a .venv that `setup` has just made is picked up.
PYTHON ?= $(if $(wildcard $(VENV)/bin/python),$(VENV)/bin/python,python3)
IMAGE_CPU ?= mfrec:cpu
IMAGE_GPU ?= mfrec:gpu
BASE_IMAGE_OFFLINE ?= mfrec-base:bookworm
# OFFLINE=1: base image from Debian's archive (debootstrap) and pip from a local
# wheelhouse, for machines that reach neither a container registry nor PyPI
# from inside a build.
OFFLINE ?= 0
DOCKER_BUILD ?= docker build

# The build context: the paths .dockerignore allows (a tar of them plus the one
# wheelhouse an offline build needs, so a CPU build does not send the GPU wheels).
context_paths = $(wildcard $(shell sed -n 's/^!//p' .dockerignore))
offline_args = --build-arg BASE_IMAGE=$(BASE_IMAGE_OFFLINE) --build-arg PIP_NO_INDEX=1

ifeq ($(OFFLINE),1)
cpu_prereqs = base-image wheelhouse-cpu
gpu_prereqs = base-image wheelhouse-gpu
build_cpu = tar -c --owner=0 --group=0 --numeric-owner --exclude=__pycache__ --exclude='*.egg-info' Dockerfile.cpu $(context_paths) docker/wheelhouse-cpu \
	| $(DOCKER_BUILD) -f Dockerfile.cpu $(offline_args) --build-arg WHEELHOUSE=docker/wheelhouse-cpu -t $(IMAGE_CPU) -
build_gpu = tar -c --owner=0 --group=0 --numeric-owner --exclude=__pycache__ --exclude='*.egg-info' Dockerfile.gpu $(context_paths) docker/wheelhouse-gpu \
	| $(DOCKER_BUILD) -f Dockerfile.gpu $(offline_args) --build-arg WHEELHOUSE=docker/wheelhouse-gpu -t $(IMAGE_GPU) -
else
build_cpu = $(DOCKER_BUILD) -f Dockerfile.cpu -t $(IMAGE_CPU) .
build_gpu = $(DOCKER_BUILD) -f Dockerfile.gpu -t $(IMAGE_GPU) .
endif

.PHONY: help setup demo venv base-image wheelhouse-cpu wheelhouse-gpu image-cpu image-cpu-offline \
        image-gpu image-gpu-offline gpu-check test test-container

help:
	@echo "demo               setup, CPU image, train on generated data, serve, print recommendations"
	@echo "test               setup, CPU image, the whole test suite (the README's test command)"
	@echo "setup              Docker, dockerd running, .venv with the package (docker/setup_host.sh)"
	@echo "venv               .venv with the package and its test dependencies"
	@echo "image-cpu          build $(IMAGE_CPU) (OFFLINE=1: no registry/PyPI inside the build)"
	@echo "image-gpu          build $(IMAGE_GPU) (mxnet-cu112 + CUDA 11 wheels; OFFLINE=1 as above)"
	@echo "image-cpu-offline  = make image-cpu OFFLINE=1 (likewise image-gpu-offline)"
	@echo "base-image         $(BASE_IMAGE_OFFLINE) from Debian's archive via debootstrap (cached)"
	@echo "wheelhouse-cpu     download the CPU image's packages to docker/wheelhouse-cpu (cached)"
	@echo "wheelhouse-gpu     likewise docker/wheelhouse-gpu (several GB)"
	@echo "gpu-check          run a tiny MXNet computation on GPU 0 in $(IMAGE_GPU)"
	@echo "test               build $(IMAGE_CPU) when Docker runs, then the whole pytest suite"
	@echo "test-container     only the container tests"

venv:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -e '.[test]'

base-image:
	docker/build_base_image.sh $(BASE_IMAGE_OFFLINE)

wheelhouse-cpu:
	PYTHON=$(PYTHON) docker/download_wheelhouse.sh docker/requirements-cpu.txt docker/wheelhouse-cpu

wheelhouse-gpu:
	PYTHON=$(PYTHON) docker/download_wheelhouse.sh docker/requirements-gpu.txt docker/wheelhouse-gpu

image-cpu: $(cpu_prereqs)
	set -o pipefail; $(build_cpu)

image-gpu: $(gpu_prereqs)
	set -o pipefail; $(build_gpu)

image-cpu-offline:
	$(MAKE) image-cpu OFFLINE=1

image-gpu-offline:
	$(MAKE) image-gpu OFFLINE=1

gpu-check:
	docker run --rm --gpus all $(IMAGE_GPU) python -c \
	  "import mxnet as mx; n = mx.context.num_gpus(); print('GPUs:', n); \
	   x = mx.nd.ones((256, 256), ctx=mx.gpu(0)); print('sum on GPU 0:', mx.nd.dot(x, x).sum().asscalar())"

setup:
	docker/setup_host.sh

demo: setup
	$(MAKE) image-cpu
	PYTHON=$(PYTHON) local_test/demo.sh $(IMAGE_CPU)

test: setup
	$(MAKE) image-cpu
	MFREC_TEST_IMAGE=$(IMAGE_CPU) $(PYTHON) -m pytest -q

test-container:
	MFREC_TEST_IMAGE=$(IMAGE_CPU) $(PYTHON) -m pytest -q -m container tests/container tests/local tests/release
