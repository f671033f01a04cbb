"""Binary topologies (``tfc``, ``sfc``, ``lfc``, ``cnv``, ``mlp:W1,...``) and their layers."""

from bnn2hw.models.layers import (
    BinaryConv2d,
    BinaryLinear,
    InputQuant,
    NormalizedInput,
    OutputScale,
    SignActivation,
    sign_ste,
)
from bnn2hw.models.topologies import (
    MLP_WIDTHS,
    BinaryNet,
    ModelConfig,
    build_model,
    hidden_widths,
)

__all__ = [
    "BinaryConv2d", "BinaryLinear", "BinaryNet", "InputQuant", "MLP_WIDTHS", "ModelConfig", "NormalizedInput",
    "OutputScale", "SignActivation", "build_model", "hidden_widths", "sign_ste",
]
