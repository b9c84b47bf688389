"""NN403 unsupported-op: see the class docstring for the rule's doc page."""

from __future__ import annotations

from collections.abc import Iterator

from nnlint.diagnostics import Diagnostic, Severity
from nnlint.rules.base import Rule, RuleContext, register


@register
class UnsupportedOp(Rule):
    """## What it does
    Lists the op kinds of the deployed model that the target cannot run
    (`[ops] unsupported` in its profile): each kind once, at its first node, with
    how many instances the model has. What the device does instead comes from the
    target's notes (the edge TPU leaves them on the host CPU).

    ## Why is this bad?
    The op runs elsewhere — on the edge TPU, the compiler leaves unsupported ops on
    the host CPU (older compilers: everything after the first one too), and every
    TPU↔CPU boundary costs a host round trip. One public log: TFLite
    `FULLY_CONNECTED` v9 was rejected and all 12 FC ops fell back to the CPU. The
    roofline latency nnlint estimates assumes the op runs on the target, so it is
    optimistic.

    ## Example
    ```
    h = x -> dense(256) -> gelu        # no GELU on the edge TPU
    ```

    Use instead:
    ```
    h = x -> dense(256) -> relu
    ```

    ## Options
    None.
    """

    code = "NN403"
    name = "unsupported-op"
    severity = Severity.WARNING
    summary = "An op the target cannot run"
    needs_target = True

    def check(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        target = ctx.target
        if not target.unsupported_ops:
            return
        found: dict[str, list] = {}
        for node in ctx.report.lowered.nodes():
            # an op that vanishes from the inference graph leaves nothing for the device to run
            if node.op in target.unsupported_ops and not node.kind.inference_noop:
                found.setdefault(node.op, []).append(node)
        note = _first_sentence(target.notes)
        for op, nodes in found.items():
            count = len(nodes)
            where = "1 instance" if count == 1 else f"{count} instances, the first here"
            msg = f"{target.id} cannot run `{op}` ({where})"
            msg += f"; its profile notes: {note}" if note else "; it runs off the accelerator"
            fix = (
                f"replace `{op}` with an op {target.id} runs, or accept the fallback and its "
                "transfers (nnlint's latency estimate does not include them)"
            )
            yield self.diag(
                msg,
                nodes[0].span,
                fix=fix,
                op=op,
                instances=count,
                first=nodes[0].id,
                target=target.id,
            )


def _first_sentence(text: str) -> str:
    text = " ".join(text.split())
    end = text.find(". ")
    return text[: end + 1] if end >= 0 else text
