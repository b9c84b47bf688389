"""Stage 3c: memory against a target — peak live bytes and the largest batch that fits.

Computed once per check (each figure on first use) and read by the rules through
:attr:`nnlint.rules.base.RuleContext.memory`; no rule plans memory or re-runs the
cost model itself.

* **Training**: ``train_memory_bytes`` (:mod:`nnlint.costs`) at another batch is the
  same lowered model analysed again at that ``train.batch``. The activation bytes
  per sample are the difference between batch 2 and batch 1; what does not grow
  with the batch (parameters, gradients, optimizer state, buffers, and any
  per-feature statistics) are the fixed terms.
* **Inference**: the peak of the live activations, with each tensor freed once its
  last reader has run (:func:`peak_inference_activation_bytes`); the weights
  (parameters and buffers at the deploy precision) are the fixed terms, or live in
  flash on a microcontroller that has it.
* **Largest batch that fits**: the first guess is ``(memory − fixed) ÷ per-sample
  bytes``, then checked exactly against the figure at that batch and lowered until
  it fits (sub-byte formats round up per tensor); 0 when not even batch 1 fits.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import attrs

from nnlint.costs import Report, Totals, analyze
from nnlint.precision import nbytes
from nnlint.targets import Target

__all__ = ["BatchFit", "MemoryAnalysis", "peak_inference_activation_bytes"]


def peak_inference_activation_bytes(report: Report, batch: int) -> int:
    """Peak bytes of live activations for one inference at ``batch``.

    Execution order; each newly allocated tensor is live from the op that writes it
    until its last reader has run (views and in-place ops share their input's
    buffer). An op's workspace (attention: Q, K, V, the ``batch·h·T²`` scores and the
    context) is live while it runs. This is the reuse a runtime's memory planner does
    (a buffer can be reused once its last reader has consumed it); the cost report's
    ``inference_memory_bytes`` keeps every tensor and is an upper bound.
    """
    steps = [layer for layer in report.layers if not layer.node.kind.is_loss]
    # each buffer is named by the step that allocates it
    buffer = [0] * len(steps)  # the buffer step i's output lives in
    size = [0] * len(steps)  # bytes of the buffer step i allocates (0: none)
    last_use = list(range(len(steps)))  # the last step that reads buffer i
    workspace: dict[int, int] = {}
    position: dict[str, int] | None = None  # node id -> step, made if needed
    for i, layer in enumerate(steps):
        node = layer.node
        first = None
        for src in node.inputs:
            if i and steps[i - 1].node.id == src:  # a chain: the step before
                j = i - 1
            else:
                if position is None:
                    position = {step.node.id: k for k, step in enumerate(steps)}
                j = position[src]
            last_use[buffer[j]] = i
            if first is None:
                first = buffer[j]
        if layer.infer.output_elements or first is None:
            buffer[i] = i
            size[i] = nbytes(batch * layer.infer.output_elements, layer.infer_precision)
        else:
            buffer[i] = first
            last_use[first] = i
        if layer.infer.workspace_elements:
            workspace[i] = nbytes(batch * layer.infer.workspace_elements, layer.infer_precision)
    dies = [0] * len(steps)  # bytes freed after step i
    for allocated_at, last in enumerate(last_use):
        dies[last] += size[allocated_at]
    live = peak = 0
    for i in range(len(steps)):
        live += size[i]
        peak = max(peak, live + workspace.get(i, 0))
        live -= dies[i]
    return peak


def _largest_fitting(fits: Callable[[int], bool], guess: int) -> int:
    """The largest batch ``b >= 1`` (at most ``guess``) with ``fits(b)``; 0 when none."""
    b = max(guess, 0)
    while b >= 1 and not fits(b):  # exact for byte-sized formats; sub-byte formats round up
        b -= 1
    return b


@attrs.frozen
class BatchFit:
    """How a batch dimension fits a memory: bytes that do not grow with the batch, bytes
    per sample, and the largest batch that fits (0: not even one sample)."""

    fixed_bytes: int
    per_sample_bytes: int
    max_batch: int


class MemoryAnalysis:
    """The memory figures of one analysed spec on one target (each computed on first use)."""

    def __init__(self, report: Report, target: Target) -> None:
        self.report = report
        self.target = target
        self._peaks: dict[int, int] = {}  # batch -> peak live activation bytes

    def _peak(self, batch: int) -> int:
        """:func:`peak_inference_activation_bytes` of the report, once per batch (the
        deploy batch is often 1, which the fit computes again)."""
        if batch not in self._peaks:
            self._peaks[batch] = peak_inference_activation_bytes(self.report, batch)
        return self._peaks[batch]

    def _train_totals(self, batch: int) -> Totals:
        """The totals of the same lowered model at another training batch."""
        sections = self.report.sections
        train = attrs.evolve(sections.train, batch=batch)
        return analyze(self.report.lowered, attrs.evolve(sections, train=train)).totals

    @functools.cached_property
    def inference_activation_bytes(self) -> int:
        """Peak live activation bytes of one inference at ``deploy.batch``."""
        return self._peak(self.report.totals.deploy_batch)

    @functools.cached_property
    def inference_fit(self) -> BatchFit:
        """The deploy batch against ``memory_bytes``: the weights are fixed (unless they
        live in flash), the peak live activations grow with the batch."""
        t, memory = self.report.totals, self.target.memory_bytes
        per_sample = self._peak(1)
        fixed = 0 if self.target.flash_bytes else t.inference_param_bytes
        guess = (memory - fixed) // per_sample if per_sample and memory > fixed else 0
        max_batch = _largest_fitting(
            lambda b: fixed + self._peak(b) <= memory,
            min(guess, t.deploy_batch - 1),
        )
        return BatchFit(fixed, per_sample, max_batch)

    @functools.cached_property
    def train_fit(self) -> BatchFit:
        """The training batch against ``memory_bytes``: model states (and any per-feature
        statistics) are fixed, the cached activations grow with the batch."""
        t, memory = self.report.totals, self.target.memory_bytes
        one, two = self._train_totals(1), self._train_totals(2)
        per_sample = two.activation_bytes - one.activation_bytes
        constant = one.activation_bytes - per_sample  # batchnorm/groupnorm statistics
        fixed = t.param_bytes + t.grad_bytes + t.optimizer_bytes + t.buffer_bytes + constant
        guess = (memory - fixed) // per_sample if per_sample and memory > fixed else 0
        max_batch = _largest_fitting(
            lambda b: self._train_totals(b).train_memory_bytes <= memory,
            min(guess, t.train_batch - 1),
        )
        return BatchFit(fixed, per_sample, max_batch)
