"""Training on synthetic builds: the default detector and the paper-literal classifier.

:func:`train_detector` fits :class:`engine.detector.GroundSeg` (patch and per-pixel
outputs) on builds made with ``synth --context``; :func:`train` fits the paper's wrapped
patch classifier on one input version (sparse, Delaunay or matrix completion) for
Table I. Both augment on the torch device and use CUDA when present, else the CPU.
"""

from engine.train._detector import DetectorOptions, train_detector
from engine.train._paper import TrainOptions, train

__all__ = ["DetectorOptions", "TrainOptions", "train", "train_detector"]
