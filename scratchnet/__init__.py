"""scratchnet: a from-scratch neural-network core in NumPy + Numba, checked against PyTorch.

It never imports torch. Start with ``scratchnet.nn`` (layers), ``scratchnet.optim`` (optimisers)
and ``scratchnet.models`` (FFN, SeedCNN, ExamplesNet).
"""

__version__ = "0.1.0"
