"""NN3xx — fit: training and inference memory against the target's memory.

Conventions of this family (each rule's doc page repeats the part it uses):

* Memory is compared with the target's ``memory_bytes`` (device memory of a GPU,
  board RAM of a CPU or edge accelerator, SRAM of an MCU). On an MCU with flash
  (``flash_bytes`` > 0) the weights live in flash and only the activations in SRAM.
* Training findings apply only to device classes that run training jobs
  (:data:`nnlint.targets.TRAINING_KINDS`): a spec that trains in fp32 and deploys int8 to the edge
  TPU or a microcontroller is not trained there.
* Whole-model findings point at the ``deploy.target`` entry when the target comes
  from the spec, else at the model's first input.
* Sizes are printed in binary units with the exact byte count, plus the decimal
  GB/MB figure vendors print on the box (a "24 GB" card holds 24,000,000,000 B).
"""
