"""Compiler: trained run -> deterministic integer network -> exact thresholds -> QONNX, verified.

``compile_run(run_dir, out_dir, sample=None, data_dir=None)`` is the entry point;
``CompileError`` is what it raises for anything it refuses.
"""

from bnn2hw.compile.api import compile_run, load_run, run_weights
from bnn2hw.compile.integer_net import CompileError, IntegerNetwork, integer_network
from bnn2hw.compile.qonnx_export import to_qonnx
from bnn2hw.compile.reference import integer_forward
from bnn2hw.compile.thresholds import fold_batchnorm_to_thresholds
from bnn2hw.compile.verify import run_qonnx, verify_network

__all__ = [
    "CompileError", "IntegerNetwork", "compile_run", "fold_batchnorm_to_thresholds", "integer_forward",
    "integer_network", "load_run", "run_qonnx", "run_weights", "to_qonnx", "verify_network",
]
