"""The README's main job (examples/iris_classic.py) runs and reproduces the classic."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("backend", ["numpy", "array_api_strict"])
def test_iris_classic_example(backend, tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "iris_classic.py"),
            "--backend",
            backend,
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    assert "initial cost: 0.693147" in out
    assert "summed: 83.1777" in out  # 120 training rows * ln 2
    assert "held-out accuracy: 1.000" in out
    png = tmp_path / "iris_cost_history.png"
    assert png.stat().st_size > 10_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
