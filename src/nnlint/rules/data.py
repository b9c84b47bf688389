"""NN2xx — data: class imbalance and output width against the class count."""

from __future__ import annotations
