"""nnlint: a linter for neural-network architecture specs.

The flow reads top to bottom, one module per stage:

    parse (grammar -> AST) -> graph (lowering, shapes) -> costs -> rules -> emit

Each border carries plain data: the AST (``nnlint.ast``), the lowered graph of
``nnlint.graph.Node`` (``nnlint.graph.Lowered``; its ``graph`` is the
``networkx.DiGraph``), the ``nnlint.costs.Report`` and ``nnlint.diagnostics.Diagnostic``.
"""

__version__ = "0.1.0"
