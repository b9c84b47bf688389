"""Examples of published models: nnlint's parameter count equals the published one.

``tests/test_torch_crosscheck.py`` checks the same examples against a hand-written
PyTorch twin (params, MACs, backward); here the count is pinned to the figure its
authors' reference implementation reports, quoted in each example's header.
"""

from __future__ import annotations

import pytest
from helpers import EXAMPLES, example_report

PUBLISHED = {
    # torchvision.models.vit_b_16 (ImageNet-1k head): 86,567,656 parameters
    "vit_b16": 86_567_656,
    # torchvision.models.efficientnet_b0: 5,288,548 parameters
    "efficientnet_b0": 5_288_548,
}


@pytest.mark.parametrize("stem", sorted(PUBLISHED))
def test_parameters_equal_the_published_count(stem):
    assert example_report(stem).totals.params == PUBLISHED[stem]
    header = (EXAMPLES / f"{stem}.nn").read_text(encoding="utf-8")
    assert f"{PUBLISHED[stem]:,}" in header.split("\n\n")[0]
