"""NN3xx — fit: training and inference memory against the target's memory."""

from __future__ import annotations
