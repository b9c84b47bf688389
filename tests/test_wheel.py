"""The wheel carries the grammar and the TOML data: build it, install it into a
fresh virtual environment and check an example from another folder.

Uses the package registries (to build and to install the dependencies), as the
tests of installation itself may.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import venv
import zipfile

import pytest
from helpers import EXAMPLES, ROOT

pytestmark = pytest.mark.slow


def test_wheel_installs_and_checks_an_example_elsewhere(tmp_path):
    pytest.importorskip("build")
    src = tmp_path / "src"
    # build from a copy so the checkout is never written to
    shutil.copytree(
        ROOT,
        src,
        ignore=shutil.ignore_patterns(
            ".venv",
            ".git",
            "dist",
            "build",
            "__pycache__",
            "*.egg-info",
            ".pytest_cache",
            ".hypothesis",
        ),
    )
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(src)],
        check=True,
        capture_output=True,
        text=True,
    )
    wheel = next(dist.glob("nnlint-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "nnlint/_data/grammar/nnlint.lark" in names
    assert "nnlint/_data/rules/targets/edge-tpu.toml" in names
    assert any(
        n.startswith("nnlint/_data/rules/") and n.endswith(".toml") and "/targets/" not in n
        for n in names
    )

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(wheel)],
        check=True,
        capture_output=True,
        text=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(EXAMPLES / "mnist_mlp.nn", elsewhere / "model.nn")
    run = subprocess.run(
        [str(env_dir / "bin" / "nnlint"), "check", "model.nn", "--format", "json"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    totals = json.loads(run.stdout)["models"][0]["totals"]
    assert totals["params"] == 235_146
    assert totals["train_memory_bytes"] == 3_913_120
