"""``BUILD/hw/estimates.json``: FINN's per-layer cycle and resource estimates of the folded graph.

Contract: ``estimate(model, board, clock_mhz, max_utilization)`` runs FINN's analyses on the
specialised, folded dataflow graph: ``exp_cycles_per_layer`` (cycles per frame of each layer),
``res_estimation`` (LUT, BRAM18, URAM, DSP per layer, for the board's part) and
``dataflow_performance`` after ``AnnotateCycles`` (bottleneck cycles and the critical-path
latency). It returns the estimates dict: ``board``, ``part``, ``clock_mhz``, ``fps`` (clock /
bottleneck cycles), ``latency_cycles``, ``latency_us``, ``max_cycles``, ``bottleneck``,
``luts``, ``brams`` (BRAM18), ``urams``, ``dsps``, ``board_resources``, ``utilization``,
``fits`` (every estimate within ``max_utilization`` of the board), ``layers`` (one dict per HW
layer, in graph order, with its folding attributes). FF counts are not estimated by FINN.
"""

from __future__ import annotations

from functools import partial

from bnn2hw.boards import Board
from bnn2hw.hw.finn_env import import_finn, is_hw_node

SOURCE = "FINN analytical estimates: exp_cycles_per_layer, res_estimation, dataflow_performance (finn-plus 1.6.1)"
FOLDING_ATTRS = ("PE", "SIMD", "parallel_window", "mem_mode", "ram_style", "resType")
TOTALS = (("luts", "LUT", "LUT"), ("brams", "BRAM_18K", "BRAM18"), ("urams", "URAM", "URAM"),
          ("dsps", "DSP", "DSP"))


def _folding_attrs(node) -> dict:
    from qonnx.custom_op.registry import getCustomOp
    inst, out = getCustomOp(node), {}
    for attr in FOLDING_ATTRS:
        try:
            out[attr] = inst.get_nodeattr(attr)
        except AttributeError:
            continue
    return out


def layer_rows(model, part: str) -> list[dict]:
    import_finn()
    from finn.analysis.fpgadataflow.exp_cycles_per_layer import exp_cycles_per_layer
    from finn.analysis.fpgadataflow.res_estimation import res_estimation
    cycles = model.analysis(exp_cycles_per_layer)
    resources = model.analysis(partial(res_estimation, fpgapart=part))
    rows = []
    for node in model.graph.node:
        if not is_hw_node(node):
            continue
        res = resources.get(node.name, {})
        rows.append({"name": node.name, "op_type": node.op_type, **_folding_attrs(node),
                     "cycles": int(cycles.get(node.name, 0)), "LUT": round(float(res.get("LUT", 0)), 1),
                     "BRAM18": float(res.get("BRAM_18K", 0)), "URAM": float(res.get("URAM", 0)),
                     "DSP": float(res.get("DSP", 0))})
    return rows


def _performance(model) -> dict:
    from finn.analysis.fpgadataflow.dataflow_performance import dataflow_performance
    from finn.transformation.fpgadataflow.annotate_cycles import AnnotateCycles
    return model.transform(AnnotateCycles()).analysis(dataflow_performance)


def estimate(model, board: Board, clock_mhz: float, max_utilization: float = 1.0) -> dict:
    """The estimates dict of the folded graph ``model`` (see module docstring)."""
    rows = layer_rows(model, board.fpga_part)
    perf = _performance(model)
    max_cycles = max(int(perf["max_cycles"]), 1)
    totals = {key: sum(row[kind] for row in rows) for key, _, kind in TOTALS}
    budget = board.resources.as_dict()
    utilization = {kind: (totals[key] / budget[kind] if budget[kind] else (0.0 if not totals[key] else float("inf")))
                   for key, _, kind in TOTALS}
    return {
        "board": board.name, "part": board.part, "finn_board": board.finn_board, "clock_mhz": clock_mhz,
        "fps": clock_mhz * 1e6 / max_cycles, "max_cycles": max_cycles,
        "bottleneck": perf.get("max_cycles_node_name"),
        "latency_cycles": int(perf["critical_path_cycles"]),
        "latency_us": int(perf["critical_path_cycles"]) / clock_mhz,
        **{key: round(value, 1) for key, value in totals.items()},
        "board_resources": budget, "max_utilization": max_utilization,
        "utilization": {kind: round(value, 4) for kind, value in utilization.items()},
        "fits": all(value <= max_utilization for value in utilization.values()),
        "source": SOURCE, "measured": None, "layers": rows,
    }
