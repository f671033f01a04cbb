"""Bit-exact simulator of FINN's folded dataflow accelerator (numpy + onnx only; no torch, no FINN).

Contract: ``simulate(build_dir, dataset=None, limit=None, ensemble=None, data_dir=None, ...)``
runs a build's test split through the simulated accelerator and writes ``BUILD/sim.json``
(see ``bnn2hw.sim.api``); ``Accelerator`` runs raw uint8 images through
``BUILD/hw/dataflow.onnx`` node by node (``bnn2hw.sim.kernels``: packed streams, FINN's
weight/threshold memory layouts, PE/SIMD folding, accumulator widths, expected cycles);
``SimError`` is the one exception it raises. Nothing here imports torch, finn, qonnx or another
bnn2hw stage except ``bnn2hw.data`` (numpy) for the test split.
"""

from bnn2hw.sim.accelerator import Accelerator, RunOutput
from bnn2hw.sim.api import simulate
from bnn2hw.sim.datatypes import SimError
from bnn2hw.sim.kernels import KERNELS

__all__ = ["Accelerator", "KERNELS", "RunOutput", "SimError", "simulate"]
