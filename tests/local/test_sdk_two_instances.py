"""examples/sagemaker_sdk.py's Estimator in SDK local mode with instance_count=2: one model
trained across two containers (algo-1-xxxxx, algo-2-xxxxx) on a docker-compose network.

Local mode stops every container as soon as one exits and reports success whatever the other
exit codes were, so the test reads each container's exit code and the output tarball itself.
"""

from __future__ import annotations

import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from .helpers import LOCAL_TEST
from .sdk_example import load_example
from .test_sdk_local_mode import NO_AWS, compose_containers, container_root, sdk_tools  # noqa: F401

pytestmark = [pytest.mark.container, pytest.mark.slow]


def exit_codes(ids: list[str]) -> dict[str, int]:
    """{"algo-1": code, ...} from compose containers named like <prefix>-algo-1-<suffix>."""
    out = subprocess.run(["docker", "inspect", "-f", "{{.Name}} {{.State.ExitCode}}", *ids],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return {host: int(code) for host, code in re.findall(r"(algo-\d+)\S* (-?\d+)", out)}


def test_fit_with_two_instances_trains_one_model(image, sdk_tools, tmp_path, container_root, monkeypatch):  # noqa: F811
    for name, value in NO_AWS.items():
        monkeypatch.setenv(name, value)
    example = load_example()
    output = tmp_path / "output"
    options = example.parse_options([
        "--local", "--image-uri", image, "--instance-count", "2",
        "--train", str(LOCAL_TEST / "test_dir" / "input" / "data" / "train"), "--output", str(output),
        "--container-root", str(container_root),
    ])
    estimator = example.make_estimator(options, example.make_local_session(options.serving_port, str(container_root)))
    estimator.fit({"train": f"file://{Path(options.train).resolve()}"}, wait=True, logs=True)

    codes = exit_codes(compose_containers(container_root))
    assert codes == {"algo-1": 0, "algo-2": 0}, codes
    model_tar = Path(estimator.model_data.removeprefix("file://"))
    with tarfile.open(model_tar) as archive:
        assert {"model.json", "model.params", "customers.json", "products.json", "history.npz"} <= set(archive.getnames())
    with tarfile.open(model_tar.parent / "output.tar.gz") as archive:
        names = set(archive.getnames())
    assert "failure" not in names and "data/metrics.json" in names, names
