"""FINN (finn-plus 1.6.1) passes used to check that FINN accepts bnn2hw's QONNX unchanged.

Contract: ``finn_frontend`` = ConvertQONNXtoFINN + FINN's tidy-up; ``finn_streamline``
mirrors finn-plus 1.6.1's ``step_streamline`` (plus ``RoundAndClipThresholds``);
``finn_convert_to_hw`` the part of ``step_convert_to_hw`` that BNNs need (default config:
thresholds absorbed into MVAUs). ``non_hw_nodes`` lists what is left outside
``finn.custom_op.fpgadataflow``.

finn-plus workarounds live in ``bnn2hw.hw.finn_env`` (``import_finn``). Nothing here needs Vivado.
"""

from __future__ import annotations

from qonnx.core.modelwrapper import ModelWrapper

from bnn2hw.hw.finn_env import import_finn

FINN_HW_DOMAIN = "finn.custom_op.fpgadataflow"




def finn_frontend(model: ModelWrapper) -> ModelWrapper:
    """QONNX -> FINN-ONNX, then FINN's tidy-up (shapes, constants, names, datatypes)."""
    import_finn()
    from finn.transformation.qonnx.convert_qonnx_to_finn import ConvertQONNXtoFINN
    from qonnx.transformation.fold_constants import FoldConstants
    from qonnx.transformation.general import GiveReadableTensorNames, GiveUniqueNodeNames, RemoveStaticGraphInputs
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes
    model = model.transform(ConvertQONNXtoFINN())
    for t in (InferShapes(), FoldConstants(), GiveUniqueNodeNames(), GiveReadableTensorNames(),
              InferDataTypes(), RemoveStaticGraphInputs()):
        model = model.transform(t)
    return model


def finn_streamline(model: ModelWrapper) -> ModelWrapper:
    """finn-plus 1.6.1 ``step_streamline``, then ``RoundAndClipThresholds``."""
    import_finn()
    import finn.transformation.streamline.absorb as absorb
    from finn.transformation.streamline import Streamline
    from finn.transformation.streamline.reorder import MakeMaxPoolNHWC
    from finn.transformation.streamline.round_thresholds import RoundAndClipThresholds
    from qonnx.transformation.bipolar_to_xnor import ConvertBipolarMatMulToXnorPopcount
    from qonnx.transformation.general import RemoveUnusedTensors
    from qonnx.transformation.infer_data_layouts import InferDataLayouts
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.lower_convs_to_matmul import LowerConvsToMatMul
    model = model.transform(absorb.AbsorbScalarBiasIntoMultiThreshold())
    model = model.transform(Streamline())
    if model.get_nodes_by_op_type("Conv"):
        model = model.transform(LowerConvsToMatMul())
        model = model.transform(MakeMaxPoolNHWC())
        model = model.transform(absorb.AbsorbTransposeIntoMultiThreshold())
        model = model.transform(MakeMaxPoolNHWC())
        model = model.transform(absorb.AbsorbConsecutiveTransposes())
    model = model.transform(ConvertBipolarMatMulToXnorPopcount())
    model = model.transform(Streamline())
    model = model.transform(absorb.AbsorbScalarMulAddIntoTopK())
    model = model.transform(RoundAndClipThresholds())
    model = model.transform(InferDataTypes())
    model = model.transform(InferDataLayouts())
    return model.transform(RemoveUnusedTensors())


def finn_convert_to_hw(model: ModelWrapper) -> ModelWrapper:
    """The BNN part of finn-plus 1.6.1 ``step_convert_to_hw`` (MVAUs absorb thresholds)."""
    import_finn()
    import finn.transformation.streamline.absorb as absorb
    from finn.transformation.fpgadataflow.convert_to_hw.binary_matrix_vector_activation import (
        InferBinaryMatrixVectorActivation)
    from finn.transformation.fpgadataflow.convert_to_hw.conv_inp_gen import InferConvInpGen
    from finn.transformation.fpgadataflow.convert_to_hw.fm_padding import InferFMPadding
    from finn.transformation.fpgadataflow.convert_to_hw.label_select import InferLabelSelectLayer
    from finn.transformation.fpgadataflow.convert_to_hw.pool import InferPool
    from finn.transformation.fpgadataflow.convert_to_hw.quantized_matrix_vector_activation import (
        InferQuantizedMatrixVectorActivation)
    from finn.transformation.fpgadataflow.convert_to_hw.thresholding import InferThresholdingLayer
    from finn.transformation.move_reshape import RemoveCNVtoFCFlatten
    from qonnx.transformation.general import GiveUniqueNodeNames
    from qonnx.transformation.infer_data_layouts import InferDataLayouts
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes
    for t in (InferBinaryMatrixVectorActivation(), InferQuantizedMatrixVectorActivation(),
              InferLabelSelectLayer(), InferThresholdingLayer(), InferFMPadding(), InferPool(),
              InferConvInpGen(), RemoveCNVtoFCFlatten(), absorb.AbsorbConsecutiveTransposes(),
              RemoveCNVtoFCFlatten(), GiveUniqueNodeNames(), InferDataLayouts(), InferDataTypes(),
              InferShapes()):
        model = model.transform(t)
    return model


def non_hw_nodes(model: ModelWrapper) -> list[str]:
    """op types of the nodes that are not FINN HW layers."""
    return [n.op_type for n in model.graph.node if not n.domain.startswith(FINN_HW_DOMAIN)]


def finn_execute(model: ModelWrapper, inputs: dict) -> dict:
    """FINN's ``execute_onnx`` (runs FINN's own custom ops in Python)."""
    import_finn()
    from finn.core.onnx_exec import execute_onnx
    return execute_onnx(model, inputs, return_full_exec_context=True)
