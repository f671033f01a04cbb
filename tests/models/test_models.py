"""Topologies: shapes, widths, input quantisation, padding and bad names."""

import pytest
import torch
import torch.nn as nn

from bnn2hw.models import (
    BinaryConv2d,
    BinaryLinear,
    InputQuant,
    ModelConfig,
    build_model,
    hidden_widths,
)


@pytest.mark.parametrize("name,widths", [("tfc", [64] * 3), ("sfc", [256] * 3), ("lfc", [1024] * 3),
                                         ("mlp:40,20", [40, 20])])
def test_mlp_widths_and_output(name, widths):
    model = build_model(ModelConfig(name, 1, (1, 28, 28), 10))
    layers = model.binary_layers()
    assert [l.out_features for l in layers] == widths + [10]
    assert layers[0].in_features == 784 and all(l.bias is None for l in layers)
    assert model(torch.zeros(3, 1, 28, 28, dtype=torch.uint8)).shape == (3, 10)


def test_cnv_layout_and_padding_of_small_images():
    model = build_model(ModelConfig("cnv", 8, (1, 28, 28), 10))
    convs = [l for l in model.binary_layers() if isinstance(l, BinaryConv2d)]
    fcs = [l for l in model.binary_layers() if isinstance(l, BinaryLinear)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256]
    assert [f.out_features for f in fcs] == [512, 512, 10] and fcs[0].in_features == 256
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.layers) == 2
    assert model(torch.zeros(2, 1, 28, 28, dtype=torch.uint8)).shape == (2, 10)


def test_input_quant_binarises_at_128_and_keeps_8_bit_integers():
    x = torch.tensor([[[[0, 127, 128, 255]]]], dtype=torch.uint8)
    assert InputQuant(1)(x).flatten().tolist() == [-1, -1, 1, 1]
    assert InputQuant(8)(x).flatten().tolist() == [0, 127, 128, 255]
    with pytest.raises(TypeError, match="uint8"):
        InputQuant(1)(x.float())


def test_pad_centres_the_image_with_zero_pixels():
    out = InputQuant(8, pad_to=4)(torch.full((1, 1, 2, 2), 9, dtype=torch.uint8))
    assert out[0, 0].tolist() == [[0, 0, 0, 0], [0, 9, 9, 0], [0, 9, 9, 0], [0, 0, 0, 0]]
    with pytest.raises(ValueError, match="larger"):
        InputQuant(8, pad_to=4)(torch.zeros(1, 1, 5, 5, dtype=torch.uint8))


@pytest.mark.parametrize("bad", ["vgg", "mlp:", "mlp:3,x", "mlp:0"])
def test_bad_model_names_are_refused(bad):
    with pytest.raises(ValueError, match="model"):
        hidden_widths(bad)


def test_bad_input_bits_refused():
    with pytest.raises(ValueError, match="input_bits"):
        ModelConfig("tfc", 4, (1, 8, 8), 10)
