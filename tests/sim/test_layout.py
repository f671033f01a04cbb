"""bnn2hw.sim.layout reproduces FINN's weight and threshold memory layouts (FINN's own methods)."""

from __future__ import annotations

import numpy as np
import pytest
from qonnx.core.modelwrapper import ModelWrapper

from bnn2hw.hw.finn_env import import_finn
from bnn2hw.sim import layout
from bnn2hw.sim.accelerator import Accelerator
from bnn2hw.sim.kernels.mvau import MVAU
from bnn2hw.sim.kernels.thresholding import Thresholding
from bnn2hw.sim.packing import pack_words, words_to_hex


def finn_ops(build_dir):
    import_finn()
    from qonnx.custom_op.registry import getCustomOp
    model = ModelWrapper(str(build_dir / "hw" / "dataflow.onnx"))
    return model, {n.name: getCustomOp(n) for n in model.graph.node}


@pytest.mark.parametrize("which", ["tfc_sim_build", "sfc_sim_build"])
def test_mvau_weight_and_threshold_memories_match_finn(which, request, tmp_path):
    build_dir = request.getfixturevalue(which)
    model, ops = finn_ops(build_dir)
    checked = 0
    for kernel in Accelerator.load(build_dir / "hw").kernels:
        if not isinstance(kernel, MVAU):
            continue
        op = ops[kernel.node.name]
        weights = model.get_initializer(kernel.node.inputs[1])
        ours = layout.mvau_weight_tensor(weights.astype(np.int64), kernel.pe, kernel.simd, kernel.weight_type.bipolar)
        assert np.array_equal(ours, op.get_hw_compatible_weight_tensor(weights))
        dat = tmp_path / f"{kernel.node.name}.dat"
        op.make_weight_file(weights, "decoupled_verilog_dat", str(dat))
        width = -(-kernel.pe * kernel.simd * kernel.weight_type.bits // 4) * 4
        lines = words_to_hex(pack_words(kernel.weight_lines, kernel.weight_type.bits, reverse_inner=False), width, "")
        assert list(lines) == dat.read_text().split()
        if kernel.has_thresholds:
            thresholds = model.get_initializer(kernel.node.inputs[2])
            assert np.array_equal(kernel.threshold_memory[None], op.get_hw_compatible_threshold_tensor(thresholds))
        checked += 1
    assert checked >= 4


def test_rtl_threshold_stage_files_match_finn(tfc_sim_build, tmp_path):
    model, ops = finn_ops(tfc_sim_build)
    kernels = [k for k in Accelerator.load(tfc_sim_build / "hw").kernels if isinstance(k, Thresholding) and k.rtl]
    assert kernels
    for kernel in kernels:
        ops[kernel.node.name].make_weight_file(model.get_initializer(kernel.node.inputs[1]), "internal_embedded",
                                               str(tmp_path / "thresholds.dat"))
        for stage, memory in enumerate(kernel.stages):
            for pe in range(kernel.pe):
                text = (tmp_path / f"{kernel.node.name}_threshs_{pe}_{stage}.dat").read_text().split()
                assert [int(v, 16) for v in text] == [int(v) for v in kernel.threshold_type.to_bits(memory[pe])]


def test_interleaving_puts_row_r_on_pe_r_mod_pe():
    rows = np.arange(12).reshape(12, 1)
    mem = layout.interleave_rows(rows, 3)
    assert mem.shape == (3, 4, 1) and mem[1, 2, 0] == 2 * 3 + 1
