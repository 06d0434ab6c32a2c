"""Constants and helpers shared by the release fixtures and tests."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

import requests

REGION = "us-east-1"
ACCOUNT = "123456789012"
# What moto's ECR get-authorization-token returns for any caller (base64 of AWS:<this>).
ECR_PASSWORD = f"{ACCOUNT}-auth-token"
TINY_IMAGE = "mfrec-release-tiny"
# Variables of the caller that would change what the script does.
SCRIPT_VARIABLES = ("IMAGE_NAME", "IMAGE_TAG", "IMAGE_FLAVOUR", "NO_BUILD", "BUILD_ARGS", "ECR_REGISTRY")


@dataclass(frozen=True)
class Registry:
    host: str  # host:port, as in image names

    def get(self, path: str, **headers: str) -> requests.Response:
        return requests.get(f"http://{self.host}{path}", auth=("AWS", ECR_PASSWORD), headers=headers, timeout=10)

    def tags(self, repository: str) -> set[str]:
        response = self.get(f"/v2/{repository}/tags/list")
        assert response.status_code == 200, response.text
        return set(response.json()["tags"] or [])

    def config_digest(self, repository: str, tag: str) -> str:
        """The image config digest of a pushed tag: equal to the local `docker image inspect` Id."""
        response = self.get(f"/v2/{repository}/manifests/{tag}",
                            Accept="application/vnd.docker.distribution.manifest.v2+json")
        assert response.status_code == 200, response.text
        return response.json()["config"]["digest"]


def docker(*args: str, stdin: bytes | None = None) -> str:
    result = subprocess.run(["docker", *args], input=stdin, capture_output=True, timeout=120)
    assert result.returncode == 0, f"docker {' '.join(args)}: {result.stderr.decode()[-2000:]}"
    return result.stdout.decode().strip()
