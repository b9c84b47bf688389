"""NN1xx — training hazards: gradients, softmax overflow, losses, initialization.

Conventions of this family (each rule's doc page repeats the part it uses):

* Rules read the lowered graph: one node per op instance, edges from producer to
  consumer. A value-preserving op (``identity``, ``dropout``, ``flatten``,
  ``reshape``) is looked through when a rule asks "what produced this tensor" or
  "what comes after this layer".
* A layer is named by its op and size and its node id, with the line of the spec
  that created it: ``dense(256) `h1/dense#1` (line 5)``. Layers made by a block or
  a ``* N`` repeat share the line of the block body; their ids tell them apart.
* ``init=`` sets a layer's weights; biases start at 0 (biases may be zero or small
  constants: Goodfellow et al. 2016, Deep Learning §8.4). Fan-in and fan-out follow PyTorch:
  ``n_in`` and ``units`` for dense, ``(C_in/groups)·k²`` and ``C_out·k²`` for conv2d.
"""
