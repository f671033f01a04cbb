"""Configuration and errors of the build stage (``bnn2hw build``); no FINN import.

Contract: ``BuildConfig`` is the frozen description of one build: the board, the target rate
(``fps``; None = the highest rate that fits the board) or a FINN folding JSON (``folding``),
the clock (None = the board's default), how far to go (``Stage``), and how many test images
the final FINN-vs-QONNX check uses (``verify_limit``; None = all), and whether the MVAU weights
are writable at run time (``runtime_weights``, for posterior ensembles on the board), and how
layers are implemented (``impl``: FINN's HLS layers, or RTL for every layer), what the
accelerator outputs (``output``: the class label from FINN's LabelSelect, or the last layer's
integer scores, so that a board ensemble can average probabilities; with either ``impl``: the
stitched RTL top, its Verilator checks and the UART shell carry whichever the graph ends in),
and whether the folding for ``fps`` (or ``folding``) may exceed the board by FINN's analytical
estimates (``ignore_estimates``: they run about twice Yosys's synthesized LUT counts;
``bnn2hw synth`` then decides whether it fits).
``HwError`` is the one exception the stage raises for anything it refuses, with a message meant for the user;
``BuildCheckFailed`` is the ``HwError`` for a check that ran and failed (exit status 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from bnn2hw.errors import CheckFailed


class HwError(Exception):
    """A build that cannot go on; the message says why and what to do."""


class Impl(str, Enum):
    """How layers become hardware: FINN's HLS layers, or RTL for every layer (bnn2hw's + finn-rtllib's)."""

    HLS = "hls"
    RTL = "rtl"


class Output(str, Enum):
    """What the accelerator's output stream carries."""

    LABELS = "labels"  # FINN's LabelSelect: the top-1 class index
    SCORES = "scores"  # the last MVAU's accumulators (the integer scores before LabelSelect)


class BuildCheckFailed(HwError, CheckFailed):
    """A build check that ran and failed: the rate or folding does not fit the board, or FINN's
    HW layers disagree with model.onnx. The previous ``BUILD/hw`` is kept."""


class Stage(str, Enum):
    """How far a build goes. BITFILE needs Vivado and Vitis HLS; without them it stops at CODEGEN."""

    ESTIMATES = "estimates"  # folded dataflow graph, estimates, report
    CODEGEN = "codegen"      # + HLS C++ / RTL sources and Tcl (PrepareIP)
    BITFILE = "bitfile"      # + HLS synthesis, FIFO sizing, stitched IP, bitfile, .hwh


MAX_BAUD = 3_000_000  # the FTDI FT231X USB serial chip: up to 3 Mbaud


@dataclass(frozen=True)
class BuildConfig:
    board: str = "pynq-z2"
    fps: float | None = None
    clock_mhz: float | None = None
    folding: str | None = None           # FINN folding config JSON (layer name -> PE/SIMD/...)
    max_utilization: float = 1.0         # fraction of each board resource the estimates may use
    stop_after: Stage = Stage.BITFILE
    verify_limit: int | None = None      # test images for the FINN-vs-QONNX check (None = all)
    data_dir: str | None = None          # where the run's dataset lives, if not the default
    model: str | None = None             # QONNX input; None = BUILD/model.onnx
    runtime_weights: bool = False        # MVAU weights writable over AXI-lite (ensembles on the board)
    impl: Impl = Impl.HLS                # layer implementation: FINN HLS, or RTL (simulated in Verilator)
    baud: int = 115200                   # UART rate of the ECP5 boards' serial shell
    clock_search: bool = False           # ECP5: step the clock down to the achieved Fmax until timing is met
    ignore_estimates: bool = False       # fold for ``fps`` even where FINN's estimates exceed the board
    output: Output = Output.LABELS       # labels, or the last layer's integer scores (board ensembles)

    def __post_init__(self):
        if self.fps is not None and not 0 < self.fps < math.inf:
            raise HwError(f"fps (--fps) must be a positive finite number, got {self.fps}")
        if self.clock_mhz is not None and not 0 < self.clock_mhz < math.inf:
            raise HwError(f"clock_mhz (--clock-mhz) must be a positive finite number, got {self.clock_mhz}")
        if isinstance(self.baud, bool) or not isinstance(self.baud, int) or self.baud <= 0:
            raise HwError(f"baud (--baud) must be a positive integer, got {self.baud!r}")
        if self.baud > MAX_BAUD:
            raise HwError(f"baud (--baud) {self.baud:,} is above {MAX_BAUD:,}, the most the ULX3S's FT231X USB "
                          "serial chip carries")
        if self.ignore_estimates and self.fps is None and self.folding is None:
            raise HwError("ignore_estimates (--ignore-estimates) needs a target rate (--fps) or a --folding: "
                          "it keeps a folding whose FINN estimates exceed the board instead of refusing it")
        if not 0 < self.max_utilization <= 1:
            raise HwError(f"max_utilization must be in (0, 1], got {self.max_utilization}")
        if self.verify_limit is not None and self.verify_limit < 0:
            raise HwError(f"verify_limit (--verify-limit) must be >= 0, got {self.verify_limit}")
        object.__setattr__(self, "stop_after", Stage(self.stop_after))
        try:
            object.__setattr__(self, "impl", Impl(self.impl))
        except ValueError:
            raise HwError(f"impl must be one of {', '.join(i.value for i in Impl)}, got {self.impl!r}") from None
        try:
            object.__setattr__(self, "output", Output(self.output))
        except ValueError:
            raise HwError(f"output (--output) must be one of {', '.join(o.value for o in Output)}, "
                          f"got {self.output!r}") from None
