"""Fixtures of the build_and_push.sh tests: a real Docker registry and moto's AWS server.

The registry is Debian's `docker-registry` (the distribution project's registry, no image
pull needed) on a free port with storage under tmp and htpasswd auth for the user `AWS` and
the password moto's ECR hands out, so a push only works after the script's `docker login`.
The aws CLI talks to `moto_server` through AWS_ENDPOINT_URL. Without a Docker engine the
tests skip, except under CI (CI=true); a missing registry, moto or aws CLI always fails.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import requests

from .helpers import ECR_PASSWORD, REGION, SCRIPT_VARIABLES, TINY_IMAGE, Registry, docker


def _venv_executable(name: str) -> str:
    beside_python = Path(sys.executable).parent / name
    found = str(beside_python) if beside_python.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(url: str, status: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args[0]} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=2).status_code == status:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer {status} within 60 s:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def registry(docker_engine, tmp_path_factory) -> Registry:
    import bcrypt

    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.fail("docker-registry is not installed: apt-get install docker-registry")
    root = tmp_path_factory.mktemp("registry")
    password_hash = bcrypt.hashpw(ECR_PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    (root / "htpasswd").write_text(f"AWS:{password_hash}\n")
    host = f"127.0.0.1:{_free_port()}"
    (root / "config.yml").write_text(
        "version: 0.1\n"
        "log: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {root / 'data'}}}}}\n"
        f"http: {{addr: {host}}}\n"
        f"auth: {{htpasswd: {{realm: release-test, path: {root / 'htpasswd'}}}}}\n")
    log = root / "registry.log"
    with log.open("w") as log_file:
        process = subprocess.Popen([binary, "serve", str(root / "config.yml")], stdout=log_file, stderr=log_file)
    try:
        _wait_for(f"http://{host}/v2/", 401, process, log)  # 401: anonymous access is refused
        yield Registry(host)
    finally:
        _stop(process)
        pushed = docker("images", "--format", "{{.Repository}}:{{.Tag}}").splitlines()
        ours = [name for name in pushed if name.startswith(f"{host}/")]
        if ours:
            docker("rmi", *ours)


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory) -> str:
    binary = _venv_executable("moto_server")
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("w") as log_file:
        process = subprocess.Popen([binary, "-H", "127.0.0.1", "-p", str(port)], stdout=log_file, stderr=log_file)
    try:
        _wait_for(f"http://127.0.0.1:{port}/moto-api/", 200, process, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def script_env(registry, moto_endpoint, tmp_path_factory) -> dict[str, str]:
    """The environment of a run against moto and the local registry; HOME and DOCKER_CONFIG are empty."""
    aws_bin = Path(_venv_executable("aws")).parent
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("AWS_") and key not in SCRIPT_VARIABLES}
    env.update(
        HOME=str(tmp_path_factory.mktemp("home")),
        DOCKER_CONFIG=str(tmp_path_factory.mktemp("docker-config")),
        PATH=f"{aws_bin}{os.pathsep}{env.get('PATH', '')}",
        PYTHON=sys.executable,
        # This project's machines reach no base image registry from a build: see README.md, "Offline build".
        OFFLINE=os.environ.get("OFFLINE", "1"),
        AWS_ENDPOINT_URL=moto_endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION=REGION,
        ECR_REGISTRY=registry.host,
    )
    return env


@pytest.fixture(scope="session")
def tiny_image(docker_engine) -> str:
    """TINY_IMAGE:cpu and TINY_IMAGE:gpu, a one-file image made with `docker import` (no pull)."""
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        content = f"release test {time.time()}\n".encode()
        member = tarfile.TarInfo("hello.txt")
        member.size = len(content)
        tar.addfile(member, io.BytesIO(content))
    docker("import", "-", f"{TINY_IMAGE}:cpu", stdin=archive.getvalue())
    docker("tag", f"{TINY_IMAGE}:cpu", f"{TINY_IMAGE}:gpu")
    yield TINY_IMAGE
    docker("rmi", f"{TINY_IMAGE}:cpu", f"{TINY_IMAGE}:gpu")
