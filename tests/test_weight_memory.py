"""The words-per-line rule of a runtime-writable weight memory (``bnn2hw.weight_memory``), which the
RTL op, the Verilator rung and the deploy package share: a change to it fails here first."""

from __future__ import annotations

import numpy as np
import pytest

from bnn2hw.weight_memory import words_per_line


@pytest.mark.parametrize("width, words", [(1, 1), (31, 1), (32, 1), (33, 2), (64, 2), (65, 4), (100, 4),
                                          (128, 4), (129, 8), (1024, 32), (1025, 64)])
def test_a_line_is_padded_to_a_power_of_two_words(width, words):
    assert words_per_line(width) == words
    assert words_per_line(np.int64(width)) == words  # FINN node attributes come as numpy integers


@pytest.mark.parametrize("width", [0, -32, 2.5, True])
def test_a_line_without_bits_is_refused(width):
    with pytest.raises(ValueError, match="positive whole number of bits"):
        words_per_line(width)
