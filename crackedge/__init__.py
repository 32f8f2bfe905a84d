"""crackedge: shared, torch-free core (data layout, synthetic cracks, metrics, config, overlays).

The four product packages (`teacher`, `distill`, `edge`, `calib`) build on this one. Nothing here
imports torch at module import time; the torch `Dataset` and the training utilities live in
`crackedge.data.torch_dataset` and `crackedge.training`, imported only by the training packages.
"""

__version__ = "0.1.0"
