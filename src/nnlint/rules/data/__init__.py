"""NN2xx — data: class imbalance and output width against the class count.

Both rules read the ``data`` section: ``classes`` (or, without it, the length of
``counts``), ``counts`` (examples per class) and ``metric``.
"""
