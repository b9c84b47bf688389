"""NN4xx — performance on the target: roofline, precision and op support.

The roofline figures come from :mod:`nnlint.roofline` (inference at ``deploy.batch``
and the deploy precision; bytes moved = weights + inputs + output per layer; ridge
point = dense peak ÷ bandwidth). Precisions are the deploy precision, each node's
``precision=`` and, on device classes that train (:data:`~nnlint.targets.TRAINING_KINDS`),
the training precision.
"""
