"""NN4xx — performance on the target: roofline, precision and op support."""

from __future__ import annotations
