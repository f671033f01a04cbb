"""bnn2hw's RTL layers as FINN custom ops (``RTLBackend``), for what finn-rtllib lacks.

Contract: three classes, registered into FINN's RTL op registry by ``register()`` (so FINN's
``SpecializeLayers`` picks ``Pool_rtl`` and ``LabelSelect_rtl`` for a node whose
``preferred_impl_style`` is ``rtl``, and ``getCustomOp`` finds all three):

* ``MVAUBinary_rtl`` (FINN ``MVAU``): ``binaryXnorMode`` (XNOR-popcount), or an integer input
  (the 8-bit first layer) with bipolar weights (add or subtract) or the small integer type FINN's
  bit-width minimisation gives them (``INT2`` for ±1: multiply); thresholds or none (the last layer);
  ``runtime_writeable_weights`` (AXI-lite, FINN's memstream address map). RTL: ``hw/rtl/bnn2hw_mvau.sv``.
* ``Pool_rtl`` (FINN ``Pool``, Function ``MaxPool``): ``hw/rtl/bnn2hw_pool.sv``.
* ``LabelSelect_rtl`` (FINN ``LabelSelect``, ``K`` = 1): ``hw/rtl/bnn2hw_label_select.sv``.

A w1a1 TFC/SFC/LFC/CNV build needs nothing else: its other layers are finn-rtllib's
(``Thresholding_rtl``, ``ConvolutionInputGenerator_rtl``, ``FMPadding_rtl``; stitching adds
``StreamingFIFO_rtl`` and ``StreamingDataWidthConverter_rtl``). ``generate_hdl`` writes, into the
node's ``code_gen_dir_ipgen``, a wrapper ``<node>.v`` with FINN's port names (``ap_clk``,
``ap_rst_n``, ``in0_V``, ``out0_V``, ``s_axilite``; stream widths padded to bytes) and the memory
images it reads with ``$readmemh`` relative to the simulator's working directory
(``./<node>_weights.dat``: FINN's ``decoupled_verilog_dat`` lines; ``./<node>_thresholds.dat``:
line ``nf`` holds threshold (pe, step) at bit ``(pe·STEPS + step)·TBITS``), as finn-rtllib's
thresholding does. The MVAU wrapper also has parameters ``PBITS``, ``PROB_FILE``, ``LANE_SEEDS``
(default 0: no sampler) and an input ``ens_passes`` for the posterior sampler, which the stitched
top sets (``bnn2hw.eda.stitch``). Python execution is the HW op's own; ``rtlsim`` through FINN's XSI is not
offered (``bnn2hw simulate --rtl-layers`` runs these in Verilator).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from finn.custom_op.fpgadataflow.hls.matrixvectoractivation_hls import MVAU_hls
from finn.custom_op.fpgadataflow.labelselect import LabelSelect
from finn.custom_op.fpgadataflow.matrixvectoractivation import MVAU
from finn.custom_op.fpgadataflow.pool import Pool
from finn.custom_op.fpgadataflow.rtlbackend import RTLBackend
from qonnx.core.datatype import DataType

from bnn2hw.hw.config import HwError
from bnn2hw.weight_memory import words_per_line
from bnn2hw.assets import hw_sources_dir

RTL_DIR = hw_sources_dir() / "rtl"
RTL_DOMAIN = "finn.custom_op.fpgadataflow.rtl"


def rtl_source(name: str) -> Path:
    path = RTL_DIR / name
    if not path.is_file():
        raise HwError(f"{path}: bnn2hw's RTL source is missing (bnn2hw must run from its source tree)")
    return path


def _hex_lines(patterns: np.ndarray, width: int) -> str:
    """Rows of 0/1 (..., width) with column 0 the most significant bit -> $readmemh lines."""
    digits = -(-width // 4)
    lines = []
    for row in patterns.reshape(-1, width):
        value = int("".join(str(int(b)) for b in row), 2) if width else 0
        lines.append(f"{value:0{digits}x}")
    return "\n".join(lines) + "\n"


def _dtype_fields(dtype: DataType) -> tuple[int, int]:
    """(bits, signed) of an integer FINN type; BIPOLAR travels as one unsigned bit."""
    return dtype.bitwidth(), int(dtype.signed() and dtype != DataType["BIPOLAR"])


class _Bnn2hwRtl(RTLBackend):
    """What the three ops share: wrapper writing, file lists, Vivado IPI commands."""

    core_files: tuple[str, ...] = ()
    core_module = ""
    sampler = False  # the wrapper takes the posterior sampler's parameters and ens_passes (MVAU)

    def code_dir(self) -> Path:
        path = self.get_nodeattr("code_gen_dir_ipgen")
        if not path:
            raise HwError(f"{self.onnx_node.name}: no code_gen_dir_ipgen; run FINN's PrepareIP first")
        return Path(path)

    def core_parameters(self) -> dict:
        raise NotImplementedError

    def write_memories(self, model) -> None:
        """Memory images the wrapper reads (none by default)."""

    def axilite_width(self) -> int:
        return 0

    def generate_hdl(self, model, fpgapart, clk):
        name = self.onnx_node.name
        self.code_dir().mkdir(parents=True, exist_ok=True)
        self.write_memories(model)
        (self.code_dir() / f"{name}.v").write_text(self.wrapper(name))
        self.set_nodeattr("gen_top_module", name)

    def wrapper(self, name: str) -> str:
        in_w, out_w = self.get_instream_width_padded(0), self.get_outstream_width_padded(0)
        core_in, core_out = self.get_instream_width(0), self.get_outstream_width(0)
        params = ",\n".join(f"\t\t.{k}({v})" for k, v in self.core_parameters().items())
        aw = self.axilite_width()
        axi_ports = "" if not aw else "".join(
            f"\t{d} {f'[{w - 1}:0] ' if w > 1 else ''}s_axilite_{p},\n" for d, w, p in AXI_PORTS(aw))
        core_aw = max(aw, self.core_axilite_width())
        axi_conn = "".join(f"\t\t.s_axilite_{p}({f's_axilite_{p}' if aw else _tie(d, w)}),\n"
                           for d, w, p in AXI_PORTS(core_aw)) if core_aw else ""
        pad = f"{out_w - core_out}'b0, " if out_w > core_out else ""
        header, sampler_port, sampler_conn = f"module {name} (", "", ""
        if self.sampler:  # the stitched top sets these from hw/posterior/manifest.json (bnn2hw.eda.stitch)
            header = f"module {name} #(parameter PBITS = 0, parameter PROB_FILE = \"\", parameter LANE_SEEDS = 32'h1) ("
            sampler_port, sampler_conn = "\tinput [15:0] ens_passes,\n", "\t\t.ens_passes(ens_passes),\n"
            params += ",\n\t\t.PBITS(PBITS),\n\t\t.PROB_FILE(PROB_FILE),\n\t\t.LANE_SEEDS(LANE_SEEDS)"
        return f"""// {name}: bnn2hw {self.onnx_node.op_type} (generated by bnn2hw.hw.rtl.ops; do not edit)
{header}
\tinput ap_clk,
\tinput ap_rst_n,
{axi_ports}{sampler_port}\tinput [{in_w - 1}:0] in0_V_TDATA,
\tinput in0_V_TVALID,
\toutput in0_V_TREADY,
\toutput [{out_w - 1}:0] out0_V_TDATA,
\toutput out0_V_TVALID,
\tinput out0_V_TREADY
);
\twire [{core_out - 1}:0] core_out;
\tassign out0_V_TDATA = {{{pad}core_out}};
\t{self.core_module} #(
{params}
\t) core (
\t\t.clk(ap_clk), .rst_n(ap_rst_n),
{axi_conn}{sampler_conn}\t\t.s_axis_tdata(in0_V_TDATA[{core_in - 1}:0]), .s_axis_tvalid(in0_V_TVALID), .s_axis_tready(in0_V_TREADY),
\t\t.m_axis_tdata(core_out), .m_axis_tvalid(out0_V_TVALID), .m_axis_tready(out0_V_TREADY)
\t);
endmodule
"""

    def core_axilite_width(self) -> int:
        return 0

    def get_rtl_file_list(self, abspath=False):
        top = f"{self.onnx_node.name}.v"
        files = [rtl_source(f) for f in self.core_files]
        if abspath:
            return [str(self.code_dir() / top)] + [str(f) for f in files]
        return [top] + [f.name for f in files]

    def memory_files(self) -> list[Path]:
        return sorted(self.code_dir().glob(f"{self.onnx_node.name}_*.dat"))

    def code_generation_ipi(self):
        cmd = [f"add_files -norecurse {f}" for f in self.get_rtl_file_list(abspath=True)]
        cmd += [f"add_files -norecurse {f}" for f in self.memory_files()]
        cmd.append(f"create_bd_cell -type module -reference {self.onnx_node.name} {self.onnx_node.name}")
        return cmd

    def execute_node(self, context, graph):
        if self.get_nodeattr("exec_mode") == "rtlsim":
            raise HwError(f"{self.onnx_node.name}: FINN's rtlsim (Vivado XSI) is not offered for bnn2hw's RTL "
                          "layers; run `bnn2hw simulate BUILD --rtl-layers` (Verilator)")
        self.hw_op.execute_node(self, context, graph)


def AXI_PORTS(aw: int) -> list[tuple[str, int, str]]:  # noqa: N802 (a table)
    """(direction, width, name) of an AXI-lite slave with an ``aw``-bit address."""
    return [("input", 1, "AWVALID"), ("output", 1, "AWREADY"), ("input", aw, "AWADDR"),
            ("input", 1, "WVALID"), ("output", 1, "WREADY"), ("input", 32, "WDATA"), ("input", 4, "WSTRB"),
            ("output", 1, "BVALID"), ("input", 1, "BREADY"), ("output", 2, "BRESP"),
            ("input", 1, "ARVALID"), ("output", 1, "ARREADY"), ("input", aw, "ARADDR"),
            ("output", 1, "RVALID"), ("input", 1, "RREADY"), ("output", 32, "RDATA"), ("output", 2, "RRESP")]


def _tie(direction: str, width: int) -> str:
    return f"{width}'b0" if direction == "input" else ""


class MVAUBinary_rtl(_Bnn2hwRtl, MVAU):  # noqa: N801 (FINN's op naming)
    core_files = ("bnn2hw_mvau.sv", "bnn2hw_sampler.sv", "bnn2hw_pipe.sv", "bnn2hw_out_fifo.sv")
    core_module = "bnn2hw_mvau"
    sampler = True
    hw_op = MVAU
    # FINN's analytical estimates of the HLS MVAU at the same folding (the figure synthesis is judged by)
    lut_estimation = MVAU_hls.lut_estimation
    dsp_estimation = MVAU_hls.dsp_estimation

    def memory_geometry(self) -> tuple[int, int]:
        """(lines, 32-bit words per line) of the weight memory (FINN memstream's AXI-lite map)."""
        mw, mh = self.get_nodeattr("MW"), self.get_nodeattr("MH")
        pe, simd = self.get_nodeattr("PE"), self.get_nodeattr("SIMD")
        return (mh // pe) * (mw // simd), words_per_line(pe * simd * self.get_input_datatype(1).bitwidth())

    def core_axilite_width(self) -> int:
        lines, words = self.memory_geometry()
        return max(1, (lines * words - 1).bit_length()) + 2

    def axilite_width(self) -> int:
        return self.core_axilite_width() if self.get_nodeattr("runtime_writeable_weights") else 0

    def thresholds(self, model):
        return None if self.get_nodeattr("noActivation") else model.get_initializer(self.onnx_node.input[2])

    def core_parameters(self) -> dict:
        xnor = self.get_nodeattr("binaryXnorMode")
        ibits, isigned = _dtype_fields(self.get_input_datatype(0))
        wdt = self.get_input_datatype(1)
        wbits, wsigned = _dtype_fields(wdt)
        acc = DataType[self.get_nodeattr("accDataType")]
        out_bits, _ = _dtype_fields(self.get_output_datatype())
        no_act = self.get_nodeattr("noActivation")
        tdt = getattr(self, "_tdt", None) or acc
        name = self.onnx_node.name
        return {"MW": self.get_nodeattr("MW"), "MH": self.get_nodeattr("MH"), "PE": self.get_nodeattr("PE"),
                "SIMD": self.get_nodeattr("SIMD"), "XNOR": xnor, "IBITS": ibits, "ISIGNED": isigned,
                "WBITS": 1 if xnor else wbits, "WSIGNED": wsigned, "WBIPOLAR": int(wdt == DataType["BIPOLAR"]),
                "ACC_BITS": acc.bitwidth(), "ACC_SIGNED": int(acc.signed()), "NO_ACT": no_act,
                "STEPS": getattr(self, "_steps", 1), "TBITS": tdt.bitwidth(), "TSIGNED": int(tdt.signed()),
                "ACT_VAL": self.get_nodeattr("ActVal"), "OBITS": out_bits,
                "RUNTIME_WEIGHTS": self.get_nodeattr("runtime_writeable_weights"),
                "WEIGHT_FILE": f'"./{name}_weights.dat"',
                "THRESH_FILE": '""' if no_act else f'"./{name}_thresholds.dat"'}

    def write_memories(self, model) -> None:
        wdt = self.get_input_datatype(1)
        if not wdt.is_integer() or wdt.bitwidth() > 8:
            raise HwError(f"{self.onnx_node.name}: MVAUBinary_rtl takes bipolar or small integer weights, not {wdt.name}")
        name, code_dir = self.onnx_node.name, self.code_dir()
        weights = model.get_initializer(self.onnx_node.input[1])
        self.make_weight_file(weights, "decoupled_verilog_dat", str(code_dir / f"{name}_weights.dat"))
        thresholds = self.thresholds(model)
        self._steps, self._tdt = 1, None
        if thresholds is not None:
            tdt = self._tdt = model.get_tensor_datatype(self.onnx_node.input[2])
            pe = self.get_nodeattr("PE")
            tensor = np.asarray(self.get_hw_compatible_threshold_tensor(thresholds))
            tensor = tensor.reshape(pe, self.get_nodeattr("MH") // pe, -1)      # (PE, TMEM, steps)
            _, tmem, steps = tensor.shape
            self._steps = steps
            bits = tdt.bitwidth()
            values = np.asarray(tensor, dtype=np.int64).transpose(1, 0, 2).reshape(tmem, pe * steps)
            patterns = (values & ((1 << bits) - 1))[:, ::-1]                   # element 0 least significant
            rows = ((patterns[..., None] >> np.arange(bits - 1, -1, -1)) & 1).reshape(tmem, -1)
            (code_dir / f"{name}_thresholds.dat").write_text(_hex_lines(rows, pe * steps * bits))


class Pool_rtl(_Bnn2hwRtl, Pool):  # noqa: N801
    core_files = ("bnn2hw_pool.sv", "bnn2hw_out_fifo.sv")
    core_module = "bnn2hw_pool"
    hw_op = Pool

    def core_parameters(self) -> dict:
        if self.get_nodeattr("Function") != "MaxPool":
            raise HwError(f"{self.onnx_node.name}: Pool_rtl implements MaxPool, not {self.get_nodeattr('Function')}")
        bits, signed = _dtype_fields(self.get_input_datatype(0))
        return {"PE": self.get_nodeattr("PE"), "K": int(np.prod(self.get_nodeattr("KernelSize"))),
                "BITS": bits, "SIGNED": signed}


class LabelSelect_rtl(_Bnn2hwRtl, LabelSelect):  # noqa: N801
    core_files = ("bnn2hw_label_select.sv", "bnn2hw_pipe.sv", "bnn2hw_out_fifo.sv")
    core_module = "bnn2hw_label_select"
    hw_op = LabelSelect

    def core_parameters(self) -> dict:
        if self.get_nodeattr("K") != 1:
            raise HwError(f"{self.onnx_node.name}: LabelSelect_rtl selects the top 1 label, K={self.get_nodeattr('K')}")
        idt = self.get_input_datatype(0)
        bits, signed = _dtype_fields(idt)
        floor = 0 if idt == DataType["BIPOLAR"] else int(idt.min())
        return {"LABELS": self.get_nodeattr("Labels"), "PE": self.get_nodeattr("PE"), "BITS": bits,
                "SIGNED": signed, "FLOOR": floor, "OBITS": self.get_output_datatype().bitwidth()}


OPS = {cls.__name__: cls for cls in (MVAUBinary_rtl, Pool_rtl, LabelSelect_rtl)}


def register() -> None:
    """Make FINN's RTL registry (and so ``getCustomOp`` and ``SpecializeLayers``) know the ops."""
    from finn.custom_op.fpgadataflow import rtl
    rtl.custom_op.update(OPS)
