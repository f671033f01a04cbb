"""Folding: PE / SIMD per layer so the slowest layer meets a frame rate with the fewest resources.

Contract: ``option_tables(model, part)`` lists, for each foldable group of a specialised
FINN dataflow graph, every legal folding (``Option``) with FINN's own expected cycles
(``get_exp_cycles``) and resource estimates (``node_res_estimation``). A group is one node, or
a depthwise ``ConvolutionInputGenerator`` and the ``Pool``/``VVAU`` it feeds, whose SIMD must
equal the consumer's PE (FINN's rule). Legal means: PE divides the output channels (MH,
NumChannels, Labels), SIMD divides the input channels (MW = channels·k², IFMChannels),
``parallel_window`` only with SIMD = IFMChannels, and an HLS layer's streams (weight stream
included) no wider than FINN's ``MAX_ALLOWED_AP_INT_W``; layers FINN itself rejects are dropped.

``plan_for_cycles(tables, target, board)`` picks, per group, the cheapest option whose cycles
are ≤ ``target`` (cost = Σ resource / board total over LUT, BRAM18, URAM, DSP; ties go to less
parallelism). ``plan_for_rate`` turns a frame rate at a clock into a target and raises
``FoldingError`` naming the highest rate that fits when the rate is out of reach (fully
unfolded still too slow, or estimates beyond the board); ``plan_fastest_fitting`` is the highest
rate that fits. ``apply_plan`` writes the attributes into the model.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

from bnn2hw.boards import Board

RESOURCE_KEYS = (("LUT", "LUT"), ("BRAM_18K", "BRAM18"), ("URAM", "URAM"), ("DSP", "DSP"))  # FINN, board


class FoldingError(ValueError):
    """A requested rate or folding that the board or FINN cannot provide."""


@dataclass(frozen=True)
class Option:
    """One legal folding of a group: ``attrs`` per node, FINN's cycles and summed resources."""

    attrs: tuple[tuple[str, tuple[tuple[str, int], ...]], ...]
    cycles: int
    resources: tuple[tuple[str, float], ...]  # FINN keys: LUT, BRAM_18K, URAM, DSP
    parallelism: int

    def resource(self, key: str) -> float:
        return dict(self.resources).get(key, 0.0)


@dataclass(frozen=True)
class Plan:
    """A folding of the whole graph: the chosen option per group and its totals."""

    target_cycles: int
    choices: tuple[Option, ...]

    @property
    def max_cycles(self) -> int:
        return max((o.cycles for o in self.choices), default=1)

    def totals(self) -> dict[str, float]:
        return {key: sum(o.resource(key) for o in self.choices) for key, _ in RESOURCE_KEYS}

    def overuse(self, board: Board, max_utilization: float = 1.0) -> dict[str, tuple[float, float]]:
        """Resources beyond ``max_utilization`` × board total: {board kind: (estimate, budget)}."""
        budget = board.resources.as_dict()
        return {kind: (value, budget[kind] * max_utilization) for (key, kind), value
                in zip(RESOURCE_KEYS, self.totals().values()) if value > budget[kind] * max_utilization}


def divisors(n: int) -> list[int]:
    n = int(n)
    return [d for d in range(1, n + 1) if n % d == 0]


def _pe_simd(inst, pe_attr: str, simd_attr: str) -> list[dict]:
    return [{"PE": p, "SIMD": s} for p in divisors(inst.get_nodeattr(pe_attr))
            for s in divisors(inst.get_nodeattr(simd_attr))]


def _single(attr: str, bound_attr: str) -> Callable:
    return lambda inst: [{attr: v} for v in divisors(inst.get_nodeattr(bound_attr))]


def _swg(inst) -> list[dict]:
    channels = inst.get_nodeattr("IFMChannels")
    options = [{"SIMD": s, "parallel_window": 0} for s in divisors(channels)]
    if inst.onnx_node.op_type.endswith("_rtl"):
        options.append({"SIMD": channels, "parallel_window": 1})
    return options


# op type -> legal attribute sets of one node (explicit registry; other op types keep their attributes)
CANDIDATES: dict[str, Callable] = {
    "MVAU_hls": lambda inst: _pe_simd(inst, "MH", "MW"),
    "MVAU_rtl": lambda inst: _pe_simd(inst, "MH", "MW"),
    "MVAUBinary_rtl": lambda inst: _pe_simd(inst, "MH", "MW"),
    "Thresholding_hls": _single("PE", "NumChannels"),
    "Thresholding_rtl": _single("PE", "NumChannels"),
    "LabelSelect_hls": _single("PE", "Labels"),
    "LabelSelect_rtl": _single("PE", "Labels"),
    "StreamingMaxPool_hls": _single("PE", "NumChannels"),
    "FMPadding_hls": _single("SIMD", "NumChannels"),
    "FMPadding_rtl": _single("SIMD", "NumChannels"),
    "ConvolutionInputGenerator_hls": _swg,
    "ConvolutionInputGenerator_rtl": _swg,
}
DEPTHWISE_CONSUMERS = ("Pool_hls", "Pool_rtl", "VVAU_hls", "VVAU_rtl")


def _inst(node):
    from qonnx.custom_op.registry import getCustomOp
    return getCustomOp(node)


def groups(model) -> list[list]:
    """Nodes in graph order, a depthwise SWG joined with the Pool/VVAU it feeds."""
    out, taken = [], set()
    for node in model.graph.node:
        if node.name in taken:
            continue
        consumer = model.find_consumer(node.output[0]) if node.output else None
        if (node.op_type.startswith("ConvolutionInputGenerator") and _inst(node).get_nodeattr("depthwise")
                and consumer is not None and consumer.op_type in DEPTHWISE_CONSUMERS):
            out.append([node, consumer])
            taken.add(consumer.name)
        else:
            out.append([node])
    return out


def _group_candidates(group: list) -> list[list[dict]]:
    if len(group) == 2:
        swg, consumer = group
        channels = _inst(consumer).get_nodeattr("Channels")
        return [[{"SIMD": p}, {"PE": p}] for p in divisors(channels)]
    make = CANDIDATES.get(group[0].op_type)
    return [[c] for c in make(_inst(group[0]))] if make else [[{}]]


def _too_wide(inst) -> bool:
    from finn.util.basic import MAX_ALLOWED_AP_INT_W
    if not inst.onnx_node.op_type.endswith("_hls"):
        return False
    widths = [inst.get_outstream_width(0)]
    for i in range(len(inst.onnx_node.input)):
        try:
            widths.append(inst.get_instream_width(i))
        except Exception:  # inputs without a stream (initializers in internal_embedded mode)
            continue
    return max(widths) > MAX_ALLOWED_AP_INT_W


def _evaluate(group: list, attrs: list[dict], part: str) -> Option | None:
    cycles, totals = 0, dict.fromkeys((key for key, _ in RESOURCE_KEYS), 0.0)
    for node, node_attrs in zip(group, attrs):
        inst = _inst(node)
        for name, value in node_attrs.items():
            inst.set_nodeattr(name, int(value))
        try:
            if _too_wide(inst):
                return None
            cycles = max(cycles, int(inst.get_exp_cycles()))
            estimate = inst.node_res_estimation(part)
        except Exception:  # FINN rejects this combination
            return None
        for key in totals:
            totals[key] += float(estimate.get(key, 0))
    parallelism = math.prod(v for a in attrs for k, v in a.items() if k in ("PE", "SIMD"))
    return Option(attrs=tuple((n.name, tuple(sorted(a.items()))) for n, a in zip(group, attrs)),
                  cycles=max(cycles, 1), resources=tuple(totals.items()), parallelism=parallelism)


def option_tables(model, part: str) -> list[list[Option]]:
    """Every legal option of every group (evaluated on a copy; ``model`` is not changed)."""
    work = copy.deepcopy(model)
    tables = []
    for group in groups(work):
        options = [o for c in _group_candidates(group) if (o := _evaluate(group, c, part)) is not None]
        if not options:
            raise FoldingError(f"no legal folding for {', '.join(n.name for n in group)}")
        tables.append(options)
    return tables


def cost(option: Option, board: Board) -> float:
    budget = board.resources.as_dict()
    total = 0.0
    for key, kind in RESOURCE_KEYS:
        value = option.resource(key)
        if value > 0:
            total += value / budget[kind] if budget[kind] > 0 else math.inf
    return total


def plan_for_cycles(tables: list[list[Option]], target: int, board: Board) -> Plan | None:
    """Cheapest option with cycles ≤ target per group; None when a group cannot meet it."""
    choices = []
    for options in tables:
        fast_enough = [o for o in options if o.cycles <= target]
        if not fast_enough:
            return None
        choices.append(min(fast_enough, key=lambda o: (cost(o, board), o.parallelism, o.cycles)))
    return Plan(target_cycles=int(target), choices=tuple(choices))


def fastest_cycles(tables: list[list[Option]]) -> tuple[int, int]:
    """(cycles of the fully unfolded bottleneck, index of that group)."""
    best = [min(o.cycles for o in options) for options in tables]
    index = max(range(len(best)), key=best.__getitem__)
    return best[index], index


def plan_fastest_fitting(tables, board: Board, max_utilization: float = 1.0) -> Plan | None:
    """The plan with the smallest bottleneck cycles whose estimates fit the board (None if none)."""
    floor, _ = fastest_cycles(tables)
    targets = sorted({o.cycles for options in tables for o in options if o.cycles >= floor})
    lo, hi, found = 0, len(targets) - 1, None
    while lo <= hi:  # resources fall as the target rises: binary search the first that fits
        mid = (lo + hi) // 2
        plan = plan_for_cycles(tables, targets[mid], board)
        if plan is not None and not plan.overuse(board, max_utilization):
            found, hi = plan, mid - 1
        else:
            lo = mid + 1
    return found


def _rate(clock_mhz: float, cycles: int) -> float:
    return clock_mhz * 1e6 / cycles


def plan_for_rate(tables, board: Board, clock_mhz: float, fps: float, names: list[str],
                  max_utilization: float = 1.0) -> Plan:
    """The cheapest plan meeting ``fps`` at ``clock_mhz``, or ``FoldingError`` with the best rate."""
    target = math.floor(clock_mhz * 1e6 / fps)
    floor, index = fastest_cycles(tables)
    if target < floor:
        raise FoldingError(
            f"{fps:,.0f} frames/s is out of reach at {clock_mhz:g} MHz: even fully unfolded, layer "
            f"{names[index]} needs {floor:,} cycles per frame, so the highest rate is "
            f"{_rate(clock_mhz, floor):,.0f} frames/s{_fitting_hint(tables, board, clock_mhz, max_utilization)}")
    plan = plan_for_cycles(tables, target, board)
    over = plan.overuse(board, max_utilization)
    if over:
        used = ", ".join(f"{kind} {value:,.0f} > {limit:,.0f}" for kind, (value, limit) in over.items())
        raise FoldingError(f"{fps:,.0f} frames/s does not fit {board.name}: estimates exceed the board ({used})"
                           f"{_fitting_hint(tables, board, clock_mhz, max_utilization)}")
    return plan


def _fitting_hint(tables, board: Board, clock_mhz: float, max_utilization: float) -> str:
    best = plan_fastest_fitting(tables, board, max_utilization)
    if best is None:
        return f"; no folding fits {board.name} at all"
    return (f"; the highest rate that fits {board.name} is {_rate(clock_mhz, best.max_cycles):,.0f} frames/s"
            f" (--fps {math.floor(_rate(clock_mhz, best.max_cycles))})")


def apply_plan(model, plan: Plan):
    """Write the plan's attributes into ``model`` (in place) and return it."""
    by_name = {node.name: node for node in model.graph.node}
    for option in plan.choices:
        for name, attrs in option.attrs:
            inst = _inst(by_name[name])
            for attr, value in attrs:
                inst.set_nodeattr(attr, int(value))
    return model


def illegal_foldings(model) -> list[str]:
    """Descriptions of nodes whose current PE/SIMD is not among their legal options."""
    problems = []
    for group in groups(model):
        current = [{k: _inst(n).get_nodeattr(k) for k in c} for n, c in zip(group, _group_candidates(group)[0])]
        if current not in _group_candidates(group):
            problems.append(", ".join(f"{n.name} {a}" for n, a in zip(group, current)))
    return problems
