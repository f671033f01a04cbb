"""The stitched accelerator: every RTL node of a build in one top module, ``accelerator``.

Contract: ``accelerator_sv(nodes, depths, sources, report_peak=False)`` returns SystemVerilog
text of module ``accelerator`` for the manifest ``nodes`` (``BUILD/hw/rtl/manifest.json``, graph
order; ``sources`` maps a node name to its top's source text, for its extra ports). Ports:
``ap_clk``, ``ap_rst_n``; AXI-stream ``s_axis_0_*`` (the first node's input word, FINN's packing,
padded to bytes: what the input DMA / the deploy driver sends) and ``m_axis_0_*`` (the last
node's output word); with runtime-writable layers an AXI-lite slave ``s_axilite_*`` (see
``axilite_map``). Edge ``i`` (into node ``i``; edge ``len(nodes)`` is the output) is a
``bnn2hw_axis_fifo`` of ``depths[i]`` words, preceded by a ``bnn2hw_dwc`` where the producer's
word holds a different number of elements than the consumer's (equal element widths are
required: ``EdaError`` otherwise). With ``report_peak`` every FIFO prints its peak occupancy at
the end of a simulation (``fifo_peaks`` parses it): how ``size_fifos`` sizes them.

With ``sampler`` (a build's ``hw/posterior/manifest.json``, ``bnn2hw.sim.posterior``) and
``frame_words`` (input words per image) the top has the on-chip posterior ensemble: an input
port ``ens_passes`` (K sampled passes per image; 0: the mode network, one pass, no flips; set it
while no image is in flight), every sampled MVAU
gets ``PBITS``, ``PROB_FILE`` (``./<node>_flipprob.dat``) and its ``LANE_SEEDS`` (lane j at bits
[32j, 32j + 32)) and ``ens_passes``, and a replay stage before the first FIFO passes each image
through once while keeping it (``frame_words`` words) and then sends it K − 1 more times from
that buffer; the output stream carries K results per image, pass by pass.

``axilite_map(nodes)``: the runtime-writable layers share one AXI-lite port; layer ``k`` (graph
order) owns byte addresses ``k << L`` .. ``(k+1 << L) - 1``, ``L`` the widest layer's address
bits, and inside it FINN's memstream map (``bnn2hw.eda.rtl_layers.axi_weight_writes``). Writes
only: a read answers SLVERR.
"""

from __future__ import annotations

import re

from bnn2hw.eda.testbench import top_ports
from bnn2hw.eda.verilator import EdaError

STITCHED_SOURCES = ("bnn2hw_axis_fifo.sv", "bnn2hw_dwc.sv")
NODE_STREAM = {"ap_clk": "ap_clk", "ap_rst_n": "ap_rst_n"}
PEAK = re.compile(r"bnn2hw_fifo \S*?fifo_(\d+) peak (\d+)")


def axilite_map(nodes: list[dict]) -> dict:
    runtime = [n for n in nodes if n["axilite_width"]]
    if not runtime:
        return {"address_bits": 0, "layers": {}}
    low = max(n["axilite_width"] for n in runtime)
    select = (len(runtime) - 1).bit_length()
    return {"address_bits": low + select, "layer_bits": low,
            "layers": {n["name"]: k << low for k, n in enumerate(runtime)}}


def element_bits(node: dict, side: str) -> int:
    return node[f"{side}_bits"] // node[f"{side}_elems"]


def sampler_parameters(layer: dict, bits: int) -> str:
    """``#(...)`` of a sampled MVAU node: B, its probability memory, its lane seeds (lane 0 lowest)."""
    seeds = "".join(reversed(layer["lane_seeds"]))
    return (f"#(.PBITS({bits}), .PROB_FILE(\"./{layer['file']}\"), "
            f".LANE_SEEDS({32 * len(layer['lane_seeds'])}'h{seeds})) ")


def _node_instance(index: int, node: dict, source: str, axi: dict, sampler: dict | None = None) -> str:
    ports = top_ports(source, node["top"])
    layers = {layer["node"]: layer for layer in (sampler or {}).get("layers", [])}
    params = sampler_parameters(layers[node["name"]], sampler["bits"]) if node["name"] in layers else ""
    conn = {"ap_clk": "ap_clk", "ap_rst_n": "ap_rst_n", "in0_V_TDATA": f"n{index}_in_tdata",
            "in0_V_TVALID": f"n{index}_in_tvalid", "in0_V_TREADY": f"n{index}_in_tready",
            "out0_V_TDATA": f"n{index}_out_tdata", "out0_V_TVALID": f"n{index}_out_tvalid",
            "out0_V_TREADY": f"n{index}_out_tready"}
    if node["name"] in axi["layers"]:
        k = list(axi["layers"]).index(node["name"])
        conn.update({"s_axilite_AWVALID": f"s_axilite_AWVALID && axi_sel == {k} && !axi_busy",
                     "s_axilite_WVALID": f"s_axilite_WVALID && axi_sel == {k} && !axi_busy",
                     "s_axilite_AWADDR": f"s_axilite_AWADDR[{node['axilite_width'] - 1}:0]",
                     "s_axilite_WDATA": "s_axilite_WDATA", "s_axilite_WSTRB": "s_axilite_WSTRB",
                     "s_axilite_BREADY": "s_axilite_BREADY", "s_axilite_AWREADY": f"axi_awready[{k}]",
                     "s_axilite_WREADY": f"axi_wready[{k}]", "s_axilite_BVALID": f"axi_bvalid[{k}]"})
    if params:
        conn["ens_passes"] = "ens_passes"
    lines = [f".{name}({conn[name]})" if name in conn else f".{name}('0)" if d == "input" else f".{name}()"
             for name, d in ports.items()]
    return f"\t{node['top']} {params}n{index} (\n\t\t" + ",\n\t\t".join(lines) + "\n\t);\n"


def _edge(index: int, src: str, src_bits: int, dst: str, dst_bits: int, elem: int, src_n: int, dst_n: int,
          depth: int, report_peak: bool) -> str:
    """src word (valid/ready wires ``{src}_tvalid``...) -> [dwc] -> fifo -> dst wires."""
    text = ""
    if src_n != dst_n:
        text += (f"\twire [{dst_bits - 1}:0] d{index}_tdata;\n\twire d{index}_tvalid, d{index}_tready;\n"
                 f"\tbnn2hw_dwc #(.E({elem}), .IN_N({src_n}), .OUT_N({dst_n})) dwc_{index} (.clk(ap_clk), "
                 f".rst_n(ap_rst_n),\n\t\t.s_axis_tdata({src}_tdata[{src_bits - 1}:0]), .s_axis_tvalid({src}_tvalid), "
                 f".s_axis_tready({src}_tready),\n\t\t.m_axis_tdata(d{index}_tdata), .m_axis_tvalid(d{index}_tvalid), "
                 f".m_axis_tready(d{index}_tready));\n")
        src, src_bits = f"d{index}", dst_bits
    text += (f"\twire [{dst_bits - 1}:0] f{index}_tdata;\n"
             f"\tbnn2hw_axis_fifo #(.W({dst_bits}), .DEPTH({depth}), .REPORT_PEAK({int(report_peak)})) fifo_{index} "
             f"(.clk(ap_clk), .rst_n(ap_rst_n),\n\t\t.s_axis_tdata({src}_tdata[{dst_bits - 1}:0]), "
             f".s_axis_tvalid({src}_tvalid), .s_axis_tready({src}_tready),\n\t\t.m_axis_tdata(f{index}_tdata), "
             f".m_axis_tvalid({dst}_tvalid), .m_axis_tready({dst}_tready));\n")
    return text


def _axilite(axi: dict) -> tuple[str, str]:
    """(port declarations, decoder logic) of the shared AXI-lite slave."""
    if not axi["layers"]:
        return "", ""
    aw, n, low = axi["address_bits"], len(axi["layers"]), axi["layer_bits"]
    decl = [("input", 1, "AWVALID"), ("output", 1, "AWREADY"), ("input", aw, "AWADDR"), ("input", 1, "WVALID"),
            ("output", 1, "WREADY"), ("input", 32, "WDATA"), ("input", 4, "WSTRB"), ("output", 1, "BVALID"),
            ("input", 1, "BREADY"), ("output", 2, "BRESP"), ("input", 1, "ARVALID"), ("output", 1, "ARREADY"),
            ("input", aw, "ARADDR"), ("output reg", 1, "RVALID"), ("input", 1, "RREADY"), ("output", 32, "RDATA"),
            ("output", 2, "RRESP")]
    ports = "".join(f"\t{d} {f'[{w - 1}:0] ' if w > 1 else ''}s_axilite_{name},\n" for d, w, name in decl)
    select = f"s_axilite_AWADDR[{aw - 1}:{low}]" if aw > low else "1'b0"
    logic = (f"\twire [{n - 1}:0] axi_awready, axi_wready, axi_bvalid;\n"
             f"\twire [{max(aw - low, 1) - 1}:0] axi_sel = {select};\n"
             "\twire axi_busy = |axi_bvalid;  // one write at a time: no new address while a response waits\n"
             "\tassign s_axilite_AWREADY = |axi_awready;\n\tassign s_axilite_WREADY = |axi_wready;\n"
             "\tassign s_axilite_BVALID = axi_busy;\n\tassign s_axilite_BRESP = 2'b00;\n"
             "\tassign s_axilite_ARREADY = !s_axilite_RVALID;\n\tassign s_axilite_RDATA = 32'b0;\n"
             "\tassign s_axilite_RRESP = 2'b10;  // the weight memories are write-only\n"
             "\talways @(posedge ap_clk) begin\n\t\tif (!ap_rst_n) s_axilite_RVALID <= 1'b0;\n"
             "\t\telse if (s_axilite_ARVALID && !s_axilite_RVALID) s_axilite_RVALID <= 1'b1;\n"
             "\t\telse if (s_axilite_RREADY) s_axilite_RVALID <= 1'b0;\n\tend\n")
    return ports, logic


def _replay(width: int, words: int) -> str:
    """Pass 0 of an image streams through and is kept; passes 1 .. K − 1 come from the buffer."""
    iw = max(1, (words - 1).bit_length())
    return (f"\t// replay: each image K = ens_passes times (0: once, the mode network), the first pass kept as it streams in\n"
            f"\treg [{width - 1}:0] rp_buf [{words}];\n\treg [{iw - 1}:0] rp_idx;\n\treg [15:0] rp_pass;\n"
            f"\twire [15:0] rp_k = ens_passes == 16'd0 ? 16'd1 : ens_passes;\n"
            f"\twire rp_fill = rp_pass == 16'd0;\n\twire [{width - 1}:0] rp_tdata = rp_fill ? s_axis_0_tdata : "
            f"rp_buf[rp_idx];\n\twire rp_tvalid = rp_fill ? s_axis_0_tvalid : 1'b1;\n\twire rp_tready;\n"
            f"\tassign s_axis_0_tready = rp_fill && rp_tready;\n"
            f"\talways @(posedge ap_clk) begin\n\t\tif (!ap_rst_n) begin\n\t\t\trp_idx <= 0;\n\t\t\trp_pass <= 0;\n"
            f"\t\tend else if (rp_tvalid && rp_tready) begin\n\t\t\tif (rp_fill) rp_buf[rp_idx] <= s_axis_0_tdata;\n"
            f"\t\t\tif (rp_idx == {iw}'d{words - 1}) begin\n\t\t\t\trp_idx <= 0;\n"
            f"\t\t\t\trp_pass <= rp_pass + 16'd1 >= rp_k ? 16'd0 : rp_pass + 16'd1;\n"
            f"\t\t\tend else rp_idx <= rp_idx + 1'b1;\n\t\tend\n\tend\n")


def accelerator_sv(nodes: list[dict], depths: list[int], sources: dict, report_peak: bool = False,
                   sampler: dict | None = None, frame_words: int = 0) -> str:
    if len(depths) != len(nodes) + 1:
        raise EdaError(f"{len(nodes)} nodes need {len(nodes) + 1} FIFO depths, got {len(depths)}")
    if sampler and frame_words < 1:
        raise EdaError("the posterior sampler's replay needs the input words per image")
    first, last = nodes[0], nodes[-1]
    axi = axilite_map(nodes)
    axi_ports, axi_logic = _axilite(axi)
    body = [axi_logic]
    if sampler:
        axi_ports += "\tinput [15:0] ens_passes,\n"
        body.append(_replay(first["in_width"], frame_words))
    for i, node in enumerate(nodes):
        body.append(f"\twire [{node['in_width'] - 1}:0] n{i}_in_tdata;\n\twire n{i}_in_tvalid, n{i}_in_tready;\n"
                    f"\twire [{node['out_width'] - 1}:0] n{i}_out_tdata;\n\twire n{i}_out_tvalid, n{i}_out_tready;\n")
    body.append(_edge(0, "rp" if sampler else "s_axis_0", first["in_bits"], "n0_in", first["in_bits"], element_bits(first, "in"), 1, 1,
                      depths[0], report_peak))
    for i, node in enumerate(nodes):
        pad = node["in_width"] - node["in_bits"]
        body.append(f"\tassign n{i}_in_tdata = {{{f'{pad}' + chr(39) + 'b0, ' if pad else ''}f{i}_tdata}};\n")
        body.append(_node_instance(i, node, sources[node["name"]], axi, sampler))
        if i + 1 < len(nodes):
            nxt = nodes[i + 1]
            if element_bits(node, "out") != element_bits(nxt, "in"):
                raise EdaError(f"{node['name']} -> {nxt['name']}: {element_bits(node, 'out')}-bit elements out, "
                               f"{element_bits(nxt, 'in')}-bit elements in")
            body.append(_edge(i + 1, f"n{i}_out", node["out_bits"], f"n{i + 1}_in", nxt["in_bits"],
                              element_bits(nxt, "in"), node["out_elems"], nxt["in_elems"], depths[i + 1], report_peak))
    end = len(nodes)
    body.append(_edge(end, f"n{end - 1}_out", last["out_bits"], "m_axis_0",
                                                         last["out_bits"], 1, 1, 1, depths[end], report_peak))
    pad = last["out_width"] - last["out_bits"]
    body.append(f"\tassign m_axis_0_tdata = {{{f'{pad}' + chr(39) + 'b0, ' if pad else ''}f{end}_tdata}};\n")
    return (f"// accelerator: {len(nodes)} layers stitched by bnn2hw.eda.stitch (generated; do not edit)\n"
            "module accelerator (\n\tinput ap_clk,\n\tinput ap_rst_n,\n" + axi_ports
            + f"\tinput [{first['in_width'] - 1}:0] s_axis_0_tdata,\n\tinput s_axis_0_tvalid,\n\toutput s_axis_0_tready,\n"
            f"\toutput [{last['out_width'] - 1}:0] m_axis_0_tdata,\n\toutput m_axis_0_tvalid,\n\tinput m_axis_0_tready\n);\n"
            + "".join(body) + "endmodule\n")


def fifo_peaks(stdout: str, count: int) -> list[int]:
    """Peak occupancy per FIFO from a ``report_peak`` simulation's output."""
    peaks = [0] * count
    for index, peak in PEAK.findall(stdout):
        peaks[int(index)] = max(peaks[int(index)], int(peak))
    return peaks
