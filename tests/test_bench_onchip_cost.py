"""``scripts/bench_onchip_cost.py``'s pure parts: the AXI-lite write count of a build, the time per
ensembled image, and the tables it writes into BENCHMARKS.md.

The write count is checked on a tiny random-weight build (TFC on 8×8 inputs, up to the estimates)
against FINN's own runtime weight files (``make_weight_file(..., "decoupled_runtime")``: one
32-bit word a line), which the driver writes word for word.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import onnx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import bench_onchip_cost as bench  # noqa: E402

from bnn2hw.hw import build  # noqa: E402
from bnn2hw.hw.random_net import random_model_onnx  # noqa: E402


def tiny_build(root: Path, runtime_weights: bool) -> Path:
    random_model_onnx(root / "model.onnx", "tfc", 1, (1, 8, 8), 10, 3)
    (root / "verify.json").write_text(json.dumps({"dataset": "digits", "label_mismatches": 0}))
    build(root, board="pynq-z1", fps=200_000, verify_limit=4, stop_after="estimates", runtime_weights=runtime_weights,
          log=lambda _: None)
    return root


@pytest.fixture(scope="module")
def runtime_build(tmp_path_factory) -> Path:
    return tiny_build(tmp_path_factory.mktemp("rewrite"), runtime_weights=True)


def test_axi_writes_are_finns_runtime_weight_words(runtime_build, tmp_path):
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    from bnn2hw.hw.finn_env import import_finn
    import_finn()  # registers FINN's custom ops
    model = ModelWrapper(str(runtime_build / "hw" / "dataflow.onnx"))
    finn_words = {}
    for node in model.graph.node:
        if node.op_type.startswith("MVAU"):
            path = tmp_path / f"{node.name}.dat"
            getCustomOp(node).make_weight_file(model.get_initializer(node.input[1]), "decoupled_runtime", str(path))
            finn_words[node.name] = len(path.read_text().split())
    writes = bench.axi_writes(runtime_build)
    assert writes["layers"] == finn_words and len(finn_words) == 4
    assert writes["words"] == sum(finn_words.values())


def test_axi_writes_without_runtime_weights_is_zero(tmp_path):
    assert bench.axi_writes(tiny_build(tmp_path, runtime_weights=False)) == {"layers": {}, "words": 0}


def test_time_per_ensembled_image():
    est = {"ii": 100, "latency": 400, "clock_mhz": 100.0}
    assert bench.ensembled_image_us(est, 1, 1) == 4.0                        # one pass: the latency
    assert bench.ensembled_image_us(est, 10, 1) == (400 + 9 * 100) / 100     # K passes of the replay
    assert bench.ensembled_image_us(est, 10, 1000) == pytest.approx(10.0, rel=1e-3)  # K · II in a stream
    assert bench.ensembled_image_us(est, 4, 1, writes=500, cycles_per_write=2) == 4 * (1000 + 400) / 100
    assert bench.ensembled_image_us(est, 4, 10, writes=500, cycles_per_write=2) == 4 * (1000 + 400 + 900) / 1000


def _row(luts, ffs, brams, **extra):
    return {"luts": luts, "ffs": ffs, "brams": brams, "fps": 1_000_000.0, "ii": 100, "latency": 400,
            "clock_mhz": 100.0, **extra}


def test_tables():
    results = {"tfc pynq-z1 b0": _row(2000, 1000, 18), "tfc pynq-z1 b4": _row(2500, 1500, 36),
               "tfc pynq-z1 rewrite": {**_row(2000, 1000, 18), "words": 500},
               "tfc ulx3s-85f b0": _row(3000, 1100, 11, fmax_mhz=110.0),
               "tfc ulx3s-85f b4": _row(3600, 1400, 22, fmax_mhz=101.5), "sfc pynq-z1 b0": _row(1, 1, 1)}
    area = bench.area_table(results, ["tfc", "sfc"]).splitlines()
    assert len(area) == 2 + 6  # sfc lacks its sampler row: left out
    assert area[2].startswith("| tfc | pynq-z1 (Yosys: LUT / FF / BRAM18) | without | 2,000 | 1,000 | 18 | – |")
    assert "| share (with − without) | +500 (+25 %) | +500 (+50 %) | +18 (+100 %) |" in area[4]
    assert area[6].startswith("| tfc | ulx3s-85f (nextpnr: LUT4 / FF / DP16KD) | B = 4 | 3,600 | 1,400 | 22 | 101.5 |")
    times = bench.time_table(results, ["tfc", "sfc"], [1, 10], 2, 1000).splitlines()
    assert len(times) == 2 + 2
    assert times[3].startswith("| tfc | 10 | 100,000 | 13.00 / 10.00 (N = 1 / 1,000) | 500 | 140.00 | 10.13 |")
    assert times[3].endswith("| 10.8× / 1.01× |")
