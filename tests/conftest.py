"""Suite-wide settings.

CI sets ``NNLINT_REQUIRE_OPTIONAL=1``: there a test module that would be skipped
because PyTorch (or another optional test dependency) is missing fails instead,
so the cross-checks cannot silently stop running. CI also sets ``CI``: hypothesis
then uses the derandomized "ci" profile.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

# In CI every generated test draws the same examples on every run, so a red CI is
# reproducible and never a coin toss; locally (and in scripts/) they explore.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def pytest_collectreport(report):
    if os.environ.get("NNLINT_REQUIRE_OPTIONAL") != "1" or not report.skipped:
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    if "could not import" in reason:
        report.outcome = "failed"
        report.longrepr = f"optional test dependency missing in CI: {reason}"


@pytest.fixture(autouse=True)
def _no_color(monkeypatch):
    """Tests compare plain text; a developer's FORCE_COLOR must not leak in."""
    monkeypatch.delenv("FORCE_COLOR", raising=False)
