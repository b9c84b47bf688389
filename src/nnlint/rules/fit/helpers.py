"""What several rules of the fit family share."""

from __future__ import annotations

from nnlint.costs import Report
from nnlint.precision import nbytes


def largest_fitting(fits, guess: int) -> int:
    """The largest batch ``b >= 1`` (near ``guess``) with ``fits(b)``; 0 when none."""
    b = max(guess, 0)
    while b >= 1 and not fits(b):  # exact for byte-sized formats; sub-byte formats round up
        b -= 1
    return b


def peak_inference_activation_bytes(report: Report, batch: int) -> int:
    """Peak bytes of live activations for one inference at ``batch``.

    Execution order; each newly allocated tensor is live from the op that writes it
    until its last reader has run (views and in-place ops share their input's
    buffer). An op's workspace (attention: Q, K, V, the ``batch·h·T²`` scores and the
    context) is live while it runs. This is the reuse a runtime's memory planner does
    (seed 004 §inference: "a buffer can be reused once the next layer has consumed
    it"); the cost report's ``inference_memory_bytes`` keeps every tensor and is an upper bound.
    """
    owner: dict[str, str] = {}
    size: dict[str, int] = {}
    made_at: dict[str, int] = {}
    last_use: dict[str, int] = {}
    workspace: dict[int, int] = {}
    steps = [layer for layer in report.layers if not layer.node.kind.is_loss]
    for i, layer in enumerate(steps):
        node = layer.node
        for src in node.inputs:
            last_use[owner[src]] = i
        if layer.infer.output_elements or not node.inputs:
            owner[node.id] = node.id
            size[node.id] = nbytes(batch * layer.infer.output_elements, layer.infer_precision)
            made_at[node.id] = last_use[node.id] = i
        else:
            owner[node.id] = owner[node.inputs[0]]
            last_use[owner[node.id]] = i
        if layer.infer.workspace_elements:
            workspace[i] = nbytes(batch * layer.infer.workspace_elements, layer.infer_precision)
    born: dict[int, int] = {}
    dies: dict[int, int] = {}
    for buf, step in made_at.items():
        born[step] = born.get(step, 0) + size[buf]
        dies[last_use[buf]] = dies.get(last_use[buf], 0) + size[buf]
    live = peak = 0
    for i in range(len(steps)):
        live += born.get(i, 0)
        peak = max(peak, live + workspace.get(i, 0))
        live -= dies.get(i, 0)
    return peak
