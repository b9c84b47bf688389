"""NN1xx — training hazards: gradients, softmax overflow, losses, initialization."""

from __future__ import annotations
