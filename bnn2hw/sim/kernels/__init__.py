"""The simulator's kernel registry: FINN HW op_type -> kernel class.

Contract: ``KERNELS`` maps every specialised op_type FINN (finn-plus 1.6.1) emits for the bnn2hw
topologies (TFC, SFC, LFC, CNV) to its kernel class; ``make_kernel(node)`` instantiates it and
raises ``SimError`` naming the op_type and node for anything else.
"""

from __future__ import annotations

from bnn2hw.sim.datatypes import SimError
from bnn2hw.sim.graph import NodeView
from bnn2hw.sim.kernels.base import Kernel, NodeStats
from bnn2hw.sim.kernels.mvau import MVAU
from bnn2hw.sim.kernels.pool import LabelSelect, Pool
from bnn2hw.sim.kernels.streams import PassThrough, Reshape
from bnn2hw.sim.kernels.thresholding import Thresholding
from bnn2hw.sim.kernels.window import FMPadding, SlidingWindow

KERNELS: dict[str, type[Kernel]] = {
    op_type: cls
    for cls in (MVAU, Thresholding, SlidingWindow, FMPadding, Pool, LabelSelect, PassThrough, Reshape)
    for op_type in cls.op_types
}


def make_kernel(node: NodeView) -> Kernel:
    cls = KERNELS.get(node.op_type)
    if cls is None:
        raise SimError(f"no simulator kernel for node {node.op_type} {node.name!r} "
                       f"(supported: {', '.join(sorted(KERNELS))})")
    return cls(node)


__all__ = ["KERNELS", "Kernel", "NodeStats", "make_kernel"]
