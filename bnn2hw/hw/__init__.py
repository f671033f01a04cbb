"""Build stage: FINN (finn-plus 1.6.1) lowering of a w1a1 QONNX graph to a folded HLS/RTL dataflow accelerator.

The only package of bnn2hw that imports ``finn`` (through ``bnn2hw.hw.finn_env``, which holds every
finn-plus workaround). ``build`` is the ``bnn2hw build`` command; ``load_board`` / ``BOARDS`` the boards;
``HwError`` what the stage raises for anything it refuses. Importing this package imports no FINN.
"""

from bnn2hw.hw.api import build, build_hw
from bnn2hw.boards import BOARDS, Board, UnknownBoard, known_boards, load_board
from bnn2hw.hw.config import BuildConfig, HwError, Stage

__all__ = ["BOARDS", "Board", "BuildConfig", "HwError", "Stage", "UnknownBoard", "build", "build_hw",
           "known_boards", "load_board"]
