"""simulate() on real builds: 0 mismatches and 0 overflows; corrupted graphs are caught; cycles = FINN's."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from bnn2hw.sim import Accelerator, SimError, simulate
from bnn2hw.sim.kernels.mvau import MVAU

from .conftest import make_sim_build

SIM_KEYS = ("images", "accuracy", "mismatches", "overflows", "images_per_s", "cycles", "cycles_max", "cycles_sum")


def check_clean(report: dict) -> None:
    assert all(key in report for key in SIM_KEYS)
    assert report["images"] > 0
    assert report["mismatches"] == 0 and report["overflows"] == 0, report


@pytest.mark.parametrize("which", ["tfc_sim_build", "sfc_sim_build"])
def test_simulate_matches_model_onnx_on_the_test_split(which, request):
    build_dir = request.getfixturevalue(which)
    report = simulate(build_dir)
    check_clean(report)
    assert report["images"] == 359  # the whole digits test split
    assert json.loads((build_dir / "sim.json").read_text())["mismatches"] == 0


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_random_networks_through_compile_build_simulate(seed, tmp_path):
    rng = np.random.default_rng(seed)
    widths = ",".join(str(int(w)) for w in rng.choice([16, 32, 48, 64], size=rng.integers(1, 3)))
    root = make_sim_build(tmp_path / "b", f"mlp:{widths}", input_bits=int(rng.choice([1, 8])), seed=seed,
                          fps=float(rng.choice([20_000, 200_000, 1_000_000])))
    # Seeds 21 and 23 overflowed FINN's own XNOR accumulator widths before bnn2hw.hw widened them.
    check_clean(simulate(root, limit=120))


def test_cycles_equal_finn_exp_cycles_per_layer(tfc_sim_build, sfc_sim_build):
    from qonnx.core.modelwrapper import ModelWrapper

    from bnn2hw.hw.finn_env import import_finn
    import_finn()
    from finn.analysis.fpgadataflow.exp_cycles_per_layer import exp_cycles_per_layer
    for build_dir in (tfc_sim_build, sfc_sim_build):
        finn_cycles = exp_cycles_per_layer(ModelWrapper(str(build_dir / "hw" / "dataflow.onnx")))
        assert Accelerator.load(build_dir / "hw").cycles() == finn_cycles


def corrupted_copy(build_dir, tmp_path, edit) -> object:
    copy = tmp_path / "corrupt"
    shutil.copytree(build_dir, copy, ignore=shutil.ignore_patterns("codegen", "finn"))
    model = onnx.load(str(copy / "hw" / "dataflow.onnx"))
    edit(model)
    onnx.save(model, str(copy / "hw" / "dataflow.onnx"))
    return copy


def set_initializer(model, name: str, value: np.ndarray) -> None:
    for i, init in enumerate(model.graph.initializer):
        if init.name == name:
            model.graph.initializer[i].CopyFrom(numpy_helper.from_array(value.astype(np.float32), name))
            return
    raise KeyError(name)


def node_named(model, name: str):
    return next(n for n in model.graph.node if n.name == name)


def last_hidden_mvau(accelerator: Accelerator) -> MVAU:
    return [k for k in accelerator.kernels if isinstance(k, MVAU) and k.has_thresholds][-1]


def record_accumulators(kernel: MVAU) -> list[np.ndarray]:
    """The exact accumulators (``MVAU.accumulate``) of every batch the kernel computes from now on."""
    seen, compute = [], kernel.compute

    def recording(x):
        seen.append(kernel.accumulate(x.reshape(-1, kernel.mw)))
        return compute(x)

    kernel.compute = recording
    return seen


def test_threshold_off_by_one_is_caught(tfc_sim_build, tmp_path):
    accelerator = Accelerator.load(tfc_sim_build / "hw")
    target = last_hidden_mvau(accelerator)
    from bnn2hw.data import load_dataset
    images = load_dataset("digits").x_test
    captured = record_accumulators(target)
    accelerator.run(images)
    acc, thresholds = captured[0], target.thresholds[:, 0]
    neuron = int(np.argmax((acc == thresholds).sum(axis=0)))  # some image sits exactly on this threshold
    assert (acc[:, neuron] == thresholds[neuron]).any()
    raw = numpy_helper.to_array(next(i for i in accelerator.dataflow.graph.initializer if i.name == target.node.inputs[2]))

    def bump(model):
        changed = raw.copy()
        changed[neuron if raw.shape[0] > 1 else 0, 0] += 1
        set_initializer(model, target.node.inputs[2], changed)
    report = simulate(corrupted_copy(tfc_sim_build, tmp_path, bump))
    assert report["mismatches"] > 0


def test_one_flipped_weight_bit_is_caught(tfc_sim_build, tmp_path):
    accelerator = Accelerator.load(tfc_sim_build / "hw")
    name = accelerator.score_node.node.inputs[1]
    weights = accelerator.dataflow.initializers[name]

    def flip(model):
        changed = weights.copy()
        changed[0, 0] = 1 - changed[0, 0]  # BINARY weight of input 0 -> class 0
        set_initializer(model, name, changed)
    report = simulate(corrupted_copy(tfc_sim_build, tmp_path, flip))
    assert report["mismatches"] > 0 and report["score_mismatches"] > 0


def test_accumulator_one_bit_too_narrow_is_caught(tfc_sim_build, tmp_path):
    from bnn2hw.data import load_dataset
    accelerator = Accelerator.load(tfc_sim_build / "hw")
    target = last_hidden_mvau(accelerator)
    captured = record_accumulators(target)
    accelerator.run(load_dataset("digits").x_test)
    # One bit less than the signed width the test split needs (the built width has slack for MW).
    narrower = f"INT{max(int(np.abs(acc).max()) for acc in captured).bit_length()}"

    def narrow(model):
        node = node_named(model, target.node.name)
        for attribute in node.attribute:
            if attribute.name == "accDataType":
                attribute.s = narrower.encode()
        for annotation in model.graph.quantization_annotation:
            if annotation.tensor_name == target.node.inputs[2]:  # FINN sizes TA >= accDataType
                annotation.quant_parameter_tensor_names[0].value = narrower
    report = simulate(corrupted_copy(tfc_sim_build, tmp_path, narrow))
    assert report["overflows"] > 0
    assert any(n["name"] == target.node.name and n["overflows"] > 0 for n in report["nodes"])


def test_a_wrong_memory_layout_gives_wrong_outputs(tfc_sim_build):
    from bnn2hw.data import load_dataset
    images = load_dataset("digits").x_test[:100]
    accelerator = Accelerator.load(tfc_sim_build / "hw")
    good = accelerator.run(images).scores
    folded = [k for k in accelerator.kernels if isinstance(k, MVAU) and k.simd > 1]
    assert folded
    folded[0].weight_lines = folded[0].weight_lines[:, ::-1].copy()  # forget FINN's SIMD/PE flips
    folded[0].refresh_weights()
    assert not np.array_equal(accelerator.run(images).scores, good)


def test_xnor_popcount_beyond_finns_accumulator_width_is_flagged(tfc_sim_build, tmp_path):
    """finn-plus 1.6.1 sizes XNOR accumulators for Σ x·w (x ∈ {0,1}, w = ±1), one bit short of the
    popcount ∈ [0, MW] that hlslib accumulates; bnn2hw.hw widens them. Rebuild FINN's width and
    drive one neuron to a full popcount: the simulator must flag it."""
    from bnn2hw.sim import layout
    first = next(k for k in Accelerator.load(tfc_sim_build / "hw").kernels if isinstance(k, MVAU) and k.xnor)
    finn_width = f"INT{first.mw.bit_length()}"  # max 2**(bitlen-1) - 1 < MW when MW is a power of two

    def finn_sized(model):
        node = node_named(model, first.node.name)
        next(a for a in node.attribute if a.name == "accDataType").s = finn_width.encode()
        for annotation in model.graph.quantization_annotation:
            if annotation.tensor_name == first.node.inputs[2]:
                annotation.quant_parameter_tensor_names[0].value = finn_width

    accelerator = Accelerator.load(corrupted_copy(tfc_sim_build, tmp_path, finn_sized) / "hw")
    narrow = next(k for k in accelerator.kernels if isinstance(k, MVAU) and k.xnor)
    assert narrow.acc_type.max < narrow.mw
    rows = layout.rows_from_weight_lines(narrow.weight_lines, narrow.pe, narrow.simd, narrow.mh, narrow.mw)
    image = np.where(rows[0] == 1, 255, 0).astype(np.uint8).reshape(1, 1, 8, 8)  # input = neuron 0's weights
    accelerator.run(image)
    assert narrow.stats.overflows >= 1


def test_unknown_node_is_named(tfc_sim_build, tmp_path):
    def rename(model):
        model.graph.node[1].op_type = "Mystery_hls"
    copy = corrupted_copy(tfc_sim_build, tmp_path, rename)
    with pytest.raises(SimError, match=r"Mystery_hls '.+'"):
        simulate(copy)


def test_simulator_imports_no_torch_finn_qonnx_or_other_stages(tfc_sim_build):
    code = ("import sys; from bnn2hw.sim import simulate; simulate(sys.argv[1], limit=10); "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'finn', 'qonnx', 'brevitas') "
            "or m.startswith(('bnn2hw.train', 'bnn2hw.compile', 'bnn2hw.hw', 'bnn2hw.models'))]; "
            "print(bad); assert not bad")
    result = subprocess.run([sys.executable, "-c", code, str(tfc_sim_build)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
