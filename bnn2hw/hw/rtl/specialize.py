"""``--impl rtl``: every layer of the dataflow graph becomes an RTL layer.

Contract: ``step_specialize_layers_rtl(model, cfg)`` replaces FINN's ``step_specialize_layers``
for ``--impl rtl``. It turns each HW ``MVAU`` of a binary network (XNOR, or the integer first layer) into bnn2hw's
``MVAUBinary_rtl`` (``SpecializeBinaryMVAU``; FINN's own RTL MVU is DSP-based and takes no
binary weights or thresholds), asks for the RTL variant of every other HW node that has one
(``PreferRtl``: finn-rtllib's, or bnn2hw's ``Pool_rtl`` / ``LabelSelect_rtl`` where they apply),
runs FINN's step unchanged, and refuses (``HwError`` naming node and op) any node left without
an RTL implementation. ``step_specialize_layers_hls`` (``--impl hls``) keeps FINN's HLS layers
where only bnn2hw's registered RTL ops would be picked (``KeepHls``), so a process that built
``--impl rtl`` once still builds ``--impl hls`` as before.
"""

from __future__ import annotations

from onnx import helper
from qonnx.core.datatype import DataType
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.base import Transformation

from bnn2hw.hw.config import HwError
from bnn2hw.hw.rtl.ops import RTL_DOMAIN, register

HW_DOMAIN = "finn.custom_op.fpgadataflow"


def binary_mvau(node) -> bool:
    """A HW MVAU that bnn2hw's RTL takes: XNOR mode, or an integer input and small integer weights."""
    if node.op_type != "MVAU" or node.domain != HW_DOMAIN:
        return False
    op = getCustomOp(node)
    wdt, idt = op.get_input_datatype(1), op.get_input_datatype(0)
    if op.get_nodeattr("binaryXnorMode"):
        return True
    small_weights = wdt == DataType["BIPOLAR"] or (wdt.is_integer() and wdt.bitwidth() <= 8)
    return small_weights and idt.is_integer() and idt.bitwidth() <= 16 and (
        op.get_nodeattr("mem_mode") in ("internal_embedded", "internal_decoupled"))


def rtl_possible(node) -> bool:
    """Whether a non-MVAU HW node has an RTL variant that applies to it."""
    from finn.custom_op.fpgadataflow.rtl import custom_op as rtl_variants
    if node.op_type + "_rtl" not in rtl_variants:
        return False
    op = getCustomOp(node)
    if node.op_type == "Pool":
        return op.get_nodeattr("Function") == "MaxPool"
    if node.op_type == "LabelSelect":
        return op.get_nodeattr("K") == 1
    return node.op_type != "MVAU"


class SpecializeBinaryMVAU(Transformation):
    """HW MVAU with bipolar weights -> MVAUBinary_rtl (same attributes, FINN's RTL domain)."""

    def apply(self, model):
        graph = model.graph
        for index, node in enumerate(graph.node):
            if not binary_mvau(node):
                continue
            new = helper.make_node("MVAUBinary_rtl", list(node.input), list(node.output), name=node.name,
                                   domain=RTL_DOMAIN)
            new.attribute.extend(node.attribute)
            graph.node.remove(node)
            graph.node.insert(index, new)
            getCustomOp(new).set_nodeattr("preferred_impl_style", "rtl")
            return model, True
        return model, False


class PreferRtl(Transformation):
    def apply(self, model):
        for node in model.graph.node:
            if node.domain == HW_DOMAIN and rtl_possible(node):
                getCustomOp(node).set_nodeattr("preferred_impl_style", "rtl")
        return model, False


class KeepHls(Transformation):
    """``--impl hls``: nodes that only bnn2hw's registered RTL ops would make RTL stay HLS (FINN's
    SpecializeLayers takes any registered RTL variant for a node without a preference)."""

    def apply(self, model):
        from bnn2hw.hw.rtl.ops import OPS
        for node in model.graph.node:
            if node.domain == HW_DOMAIN and node.op_type + "_rtl" in OPS:
                op = getCustomOp(node)
                if op.get_nodeattr("preferred_impl_style") == "":
                    op.set_nodeattr("preferred_impl_style", "hls")
        return model, False


def step_specialize_layers_hls(model, cfg):
    import finn.builder.build_dataflow_steps as finn_steps
    return finn_steps.step_specialize_layers(model.transform(KeepHls()), cfg)


def non_rtl_nodes(model) -> list[str]:
    return [f"{n.op_type} {n.name!r}" for n in model.graph.node if not n.op_type.endswith("_rtl")]


def step_specialize_layers_rtl(model, cfg):
    import finn.builder.build_dataflow_steps as finn_steps
    register()
    model = model.transform(SpecializeBinaryMVAU()).transform(PreferRtl())
    model = finn_steps.step_specialize_layers(model, cfg)
    missing = non_rtl_nodes(model)
    if missing:
        raise HwError(f"--impl rtl: no RTL implementation for {', '.join(missing)}; build with --impl hls")
    return model
