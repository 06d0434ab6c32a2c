"""The README's first command ends in local_test/demo.sh: train in the image, serve, recommend."""

from __future__ import annotations

import json
import sys

import pytest

from .helpers import free_port, run_script

pytestmark = pytest.mark.container


def test_demo_trains_serves_and_prints_recommendations(image, tmp_path):
    env = {"DEMO_ROWS": "30000", "DEMO_DIR": str(tmp_path / "demo"), "PORT": str(free_port()), "PYTHON": sys.executable}
    result = run_script("demo.sh", image, env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "epoch=" in result.stdout and "test_mse=" in result.stdout
    recommendations = result.stdout.split("== top 5 recommendations for customer", 1)[1]
    listed = json.loads(recommendations[recommendations.index("{"):recommendations.index("== predicted")])
    assert len(listed["recommendations"]) == 5
    assert all(1.0 <= r["predicted_rating"] <= 5.0 for r in listed["recommendations"])
    ratings = json.loads(result.stdout.split("== predicted ratings", 1)[1].splitlines()[1])
    assert len(ratings) == 3 and all(1.0 <= r <= 5.0 for r in ratings)
    assert (tmp_path / "demo" / "model" / "model.params").exists()
