"""The pre-commit hook of ``.pre-commit-hooks.yaml``, installed the way users install it.

A copy of this repository (its tracked and untracked, not ignored files: the
working tree, which may hold uncommitted work) is committed into a throwaway git
repository; ``pre-commit try-repo`` installs the hook from it into a fresh
virtualenv (from the package registries) and runs it in a second throwaway
repository on a spec with an error, a clean spec and an excluded one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
SYNTAX_ERROR = "model m {\n    input x: [4]\n    y = x -> dense(2 ->\n}\n"


def _pre_commit() -> list[str] | None:
    beside = Path(sys.executable).parent / "pre-commit"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("pre-commit")
    return [found] if found else None


def _git(*args: str, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GIT_", "PRE_COMMIT")) and k not in ("NO_COLOR", "FORCE_COLOR")
    }
    env.update(
        PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"),
        GIT_AUTHOR_NAME="nnlint tests",
        GIT_AUTHOR_EMAIL="tests@example.invalid",
        GIT_COMMITTER_NAME="nnlint tests",
        GIT_COMMITTER_EMAIL="tests@example.invalid",
        GIT_CONFIG_NOSYSTEM="1",
        HOME=str(tmp_path / "home"),
    )
    (tmp_path / "home").mkdir()
    return env


def _copy_of_this_repo(dest: Path, env: dict[str, str]) -> Path:
    """The working tree of the repository holding this test, committed into ``dest``."""
    try:
        root = Path(_git("rev-parse", "--show-toplevel", cwd=HERE, env=env).strip())
        listing = _git(
            "ls-files", "--cached", "--others", "--exclude-standard", "-z", cwd=root, env=env
        )
    except subprocess.CalledProcessError:
        pytest.skip("the tests do not run from a git checkout")
    for name in filter(None, listing.split("\0")):
        source = root / name
        if source.is_file():  # a tracked file deleted in the working tree is left out
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    _git("init", "-q", cwd=dest, env=env)
    _git("add", "-A", cwd=dest, env=env)
    _git("-c", "commit.gpgsign=false", "commit", "-q", "-m", "snapshot", cwd=dest, env=env)
    return dest


def test_hook_manifest():
    import yaml  # pre-commit's own dependency

    [hook] = yaml.safe_load((HERE.parent / ".pre-commit-hooks.yaml").read_text("utf-8"))
    assert hook["id"] == "nnlint" and hook["name"]
    assert hook["entry"] == "nnlint check --force-exclude"
    assert hook["language"] == "python"
    assert hook["files"] == r"\.nn$"
    assert hook["require_serial"] is True
    assert hook["minimum_pre_commit_version"] == "2.9.2"


def test_try_repo(tmp_path, env):
    pre_commit = _pre_commit()
    if shutil.which("git") is None or pre_commit is None:
        pytest.skip("needs git and pre-commit")
    repo = _copy_of_this_repo(tmp_path / "nnlint-repo", env)

    project = tmp_path / "project"
    (project / "generated").mkdir(parents=True)
    (project / "bad.nn").write_text(SYNTAX_ERROR, encoding="utf-8")
    (project / "generated" / "bad.nn").write_text(SYNTAX_ERROR, encoding="utf-8")
    (project / "good.nn").write_text(
        (HERE.parent / "examples" / "xor.nn").read_text("utf-8"), encoding="utf-8"
    )
    (project / "nnlint.toml").write_text('exclude = ["generated"]\n', encoding="utf-8")
    _git("init", "-q", cwd=project, env=env)
    _git("add", "-A", cwd=project, env=env)

    def try_repo(*files: str) -> subprocess.CompletedProcess:
        command = [
            *pre_commit,
            "try-repo",
            str(repo),
            "nnlint",
            "--color",
            "never",
            "--verbose",
            "--files",
            *files,
        ]
        return subprocess.run(
            command, cwd=project, env=env, capture_output=True, text=True, timeout=900
        )

    bad = try_repo("bad.nn")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "bad.nn:3:23: NN001 [error] syntax error" in bad.stdout, bad.stdout

    good = try_repo("good.nn")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "NN001" not in good.stdout and "1 file" in good.stdout, good.stdout

    excluded = try_repo("good.nn", "generated/bad.nn")  # --force-exclude honours the config
    assert excluded.returncode == 0, excluded.stdout + excluded.stderr
    assert "NN001" not in excluded.stdout and "1 file" in excluded.stdout, excluded.stdout
