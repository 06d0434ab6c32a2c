"""predict.sh's own checks, which need neither Docker nor a server."""

from __future__ import annotations

from .helpers import PAYLOADS, free_port, run_script


def test_predict_without_a_server_says_so():
    result = run_script("predict.sh", str(PAYLOADS / "ratings.json"), env={"PORT": str(free_port())})
    assert result.returncode != 0
    assert "start it with serve_local.sh" in result.stderr


def test_predict_needs_a_content_type_for_an_unknown_suffix(tmp_path):
    payload = tmp_path / "body.txt"
    payload.write_text("{}")
    result = run_script("predict.sh", str(payload))
    assert result.returncode != 0 and "content type" in result.stderr
