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


#: Published counts that their sources round: (the text quoted in the header, the value).
ROUNDED = {
    # Merity et al. 2017 (AWD-LSTM), Table 1: Zaremba et al. (2014) LSTM (medium), 20M
    "lstm_lm": ("20M", 20_000_000),
}


@pytest.mark.parametrize("stem", sorted(PUBLISHED))
def test_parameters_equal_the_published_count(stem):
    assert example_report(stem).totals.params == PUBLISHED[stem]
    header = (EXAMPLES / f"{stem}.nn").read_text(encoding="utf-8")
    assert f"{PUBLISHED[stem]:,}" in header.split("\n\n")[0]


@pytest.mark.parametrize("stem", sorted(ROUNDED))
def test_parameters_round_to_the_published_count(stem):
    text, value = ROUNDED[stem]
    params = example_report(stem).totals.params
    digits = len(text.rstrip("kMG"))  # the published figure's significant digits
    scale = 10 ** (len(str(params)) - digits)
    assert round(params / scale) * scale == value
    header = (EXAMPLES / f"{stem}.nn").read_text(encoding="utf-8").split("\n\n")[0]
    assert f"published: {text}" in header and f"{params:,} parameters" in header
