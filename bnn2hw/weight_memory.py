"""The AXI-lite map of a runtime-writable weight memory: 32-bit words per memory line.

Contract: ``words_per_line(width)`` is how many 32-bit AXI-lite words one line of an MVAU weight
memory takes in FINN memstream's address map (finn-plus 1.6.1, ``runtime_writeable_weights``):
a line of ``width = PE·SIMD·weight_bits`` bits is padded to ``2**ceil(log2(width/32))`` words
(1, 2, 4, 8, ...), least significant word first, so line ``i`` starts at word
``i·words_per_line``. The RTL op (``bnn2hw.hw.rtl.ops``), the Verilator rung's AXI-lite writes
(``bnn2hw.eda.rtl_layers``) and the deploy package's weight files (``bnn2hw.deploy.weights``)
must agree on it bit for bit, hence one definition. Imports nothing from bnn2hw, so every stage
may use it (the shipped driver does not need it: it reads the word counts from ``io_spec.json``).
"""

from __future__ import annotations

WORD_BITS = 32  # AXI-lite data width


def words_per_line(width: int) -> int:
    """32-bit words of one memory line of ``width`` bits: the next power of two >= ceil(width / 32)."""
    if isinstance(width, bool) or int(width) != width or width < 1:
        raise ValueError(f"a weight memory line is a positive whole number of bits, got {width!r}")
    words = -(-int(width) // WORD_BITS)
    return 1 << (words - 1).bit_length()  # integers only: no float log2 at the boundaries
