"""build_and_push.sh run for real: moto answers the aws CLI, a local registry takes the push."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .helpers import ACCOUNT, REGION, docker

pytestmark = pytest.mark.container

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "build_and_push.sh"


def run_script(env: dict[str, str], *args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Runs the script from `cwd` (not the repository): it must find its own folder."""
    return subprocess.run([str(SCRIPT), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def succeeded(result: subprocess.CompletedProcess) -> str:
    """The image URI: the one line on stdout (progress goes to stderr)."""
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-5000:]
    (uri,) = result.stdout.splitlines()
    return uri


@contextmanager
def tiny_image_named(tiny_image: str, name: str) -> Iterator[str]:
    """The tiny image also as NAME:cpu, for a run that must use a repository of its own."""
    docker("tag", f"{tiny_image}:cpu", f"{name}:cpu")
    try:
        yield name
    finally:
        docker("rmi", f"{name}:cpu")


def ecr_repositories(env: dict[str, str]) -> list[dict]:
    listing = subprocess.run(["aws", "ecr", "describe-repositories", "--region", REGION, "--output", "json"],
                             env=env, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(listing.stdout)["repositories"]


def ecr_repository_names(env: dict[str, str]) -> set[str]:
    return {repository["repositoryName"] for repository in ecr_repositories(env)}


def git_tag() -> str:
    """The default tag as documented: short sha, `-dirty` when tracked files differ from HEAD."""
    sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip()
    clean = subprocess.run(["git", "diff", "--quiet", "HEAD", "--"], cwd=ROOT).returncode == 0
    return sha if clean else f"{sha}-dirty"


@pytest.mark.slow
def test_builds_then_pushes_git_tag_and_latest(script_env, registry, tmp_path):
    """The whole default path: make image-cpu for linux/amd64, new ECR repository, login, two tags."""
    tag_before = git_tag()
    result = run_script(script_env, cwd=tmp_path, timeout=1800)
    uri = succeeded(result)

    # Others may commit or edit during the run on a shared working tree.
    assert uri in {f"{registry.host}/mfrec:{tag}" for tag in (tag_before, git_tag())}
    tag = uri.rpartition(":")[2]
    assert "mfrec" in ecr_repository_names(script_env)
    assert {tag, "latest"} <= registry.tags("mfrec")
    # The id the script built and pushed (mfrec:cpu itself may be rebuilt meanwhile on a shared machine).
    (built_id,) = re.findall(r"^== image mfrec:cpu = (sha256:[0-9a-f]{64})$", result.stderr, re.MULTILINE)
    assert registry.config_digest("mfrec", tag) == registry.config_digest("mfrec", "latest") == built_id
    assert docker("image", "inspect", "--format", "{{.Os}}/{{.Architecture}} {{.Config.Entrypoint}}",
                  built_id) == "linux/amd64 [/usr/bin/tini --]"


def test_gpu_flavour_pushes_suffixed_tags_into_the_existing_repository(script_env, registry, tiny_image, tmp_path):
    cpu_uri = succeeded(run_script(script_env, "--no-build", "-n", tiny_image, "-t", "v1", cwd=tmp_path))
    gpu_uri = succeeded(run_script(script_env, "--no-build", "--flavour", "gpu", "--name", tiny_image,
                                   "--tag", "v1", cwd=tmp_path))

    assert cpu_uri == f"{registry.host}/{tiny_image}:v1"
    assert gpu_uri == f"{registry.host}/{tiny_image}:v1-gpu"
    assert registry.tags(tiny_image) == {"v1", "latest", "v1-gpu", "latest-gpu"}
    assert [r["repositoryName"] for r in ecr_repositories(script_env)].count(tiny_image) == 1


def test_environment_variables_choose_like_the_options(script_env, registry, tiny_image, tmp_path):
    with tiny_image_named(tiny_image, f"{tiny_image}-env") as name:
        env = {**script_env, "IMAGE_NAME": name, "IMAGE_TAG": "from-env", "NO_BUILD": "1"}
        uri = succeeded(run_script(env, cwd=tmp_path))

    assert uri == f"{registry.host}/{name}:from-env"
    assert registry.tags(name) == {"from-env", "latest"}


def test_without_a_region_fails_clearly_and_creates_nothing(script_env, tiny_image, tmp_path):
    env = {key: value for key, value in script_env.items() if key != "AWS_REGION"}
    with tiny_image_named(tiny_image, f"{tiny_image}-noregion") as name:
        result = run_script(env, "--no-build", "-n", name, cwd=tmp_path)

    assert result.returncode != 0
    assert result.stdout == ""
    assert "no AWS region" in result.stderr
    assert name not in ecr_repository_names(script_env)


def test_region_from_aws_configure(script_env, registry, tiny_image, tmp_path):
    env = {key: value for key, value in script_env.items() if key != "AWS_REGION"}
    env["HOME"] = str(tmp_path)
    subprocess.run(["aws", "configure", "set", "region", REGION], env=env, check=True, timeout=60)

    uri = succeeded(run_script(env, "--no-build", "-n", tiny_image, "-t", "configured", cwd=tmp_path))

    assert uri == f"{registry.host}/{tiny_image}:configured"


def test_missing_local_image_fails_before_touching_aws(script_env, tmp_path):
    result = run_script(script_env, "--no-build", "-n", "mfrec-release-absent", cwd=tmp_path)

    assert result.returncode != 0
    assert "local image mfrec-release-absent:cpu not found" in result.stderr
    assert "mfrec-release-absent" not in ecr_repository_names(script_env)


def test_without_override_logs_in_to_the_accounts_ecr_registry(script_env, tiny_image, tmp_path):
    """No ECR_REGISTRY: the host is the one ECR reports; logging in to it fails here, nothing is pushed."""
    env = {key: value for key, value in script_env.items() if key != "ECR_REGISTRY"}
    with tiny_image_named(tiny_image, f"{tiny_image}-real") as name:
        result = run_script(env, "--no-build", "-n", name, "-t", "v1", cwd=tmp_path)

    assert result.returncode != 0
    assert f"docker login {ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com\n" in result.stderr
    assert "pushing" not in result.stderr


@pytest.mark.parametrize("args, message", [
    (["-f", "arm"], "flavour must be cpu or gpu"),
    (["-t", "no spaces"], "invalid image tag"),
    (["-n", "Upper"], "invalid repository name"),
    (["--bogus"], "unknown argument: --bogus"),
])
def test_bad_arguments_are_refused(script_env, tmp_path, args, message):
    result = run_script(script_env, *args, cwd=tmp_path)

    assert result.returncode != 0
    assert message in result.stderr
