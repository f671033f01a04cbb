"""Open EDA tools behind small functions (no FINN, no torch).

``verilator``: build (cached by content hash) and run of an AXI-stream testbench;
``testbench``: the generated ``bnn2hw_tb_top`` around one RTL node;
``rtl_layers``: the layer-by-layer Verilator rung against ``bnn2hw.sim``'s streams;
``cppsim_deps``: finn-hlslib, the open ap types and the Vitis shims for g++ (FINN's cppsim, run by
``bnn2hw.hw.cppsim``).
Every refusal is an ``EdaError`` with a message for the user; a tool that is missing or failed is
its subclass ``ToolFailed`` (exit status 3, not 2: the input was not at fault).
"""

from bnn2hw.eda.verilator import EdaError, ToolFailed

__all__ = ["EdaError", "ToolFailed"]
