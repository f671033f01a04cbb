"""The RTL posterior sampler in the stitched accelerator (Verilator) against bnn2hw.sim.

A BayesBiNN TFC on digits compiled with ``--posterior-bits 4`` and built ``--impl rtl`` with a
folding whose MVAUs have two lanes each (one partly used in the last layer): ``simulate --rtl
--ensemble 4`` replays every image 4 times on the chip and every pass's integer scores equal
``bnn2hw.sim.posterior.onchip_members``'s (0 mismatched passes; the passes really differ from the
mode network). Mutant: one lane seed of the stitched top changed: passes mismatch. A build
without ``ens_passes`` set runs the mode network (0 mismatches with the plain simulator).
"""

from __future__ import annotations

import json
import shutil

import pytest

from bnn2hw.eda.rtlsim import REPORT_FILE, run_stitched
from bnn2hw.sim import api as sim_api
from tests.eda.conftest import build_modules, requires_verilator

pytestmark = requires_verilator
LIMIT, PASSES = 40, 4


def _run(root, passes=PASSES):
    images, labels, _ = sim_api.test_split(root, None, None, LIMIT)
    return run_stitched(root, images, ensemble=passes, log=lambda _: None, true_labels=labels)


def test_every_pass_of_the_rtl_sampler_equals_the_simulator(sampler_build):
    manifest = json.loads((sampler_build / "hw" / "posterior" / "manifest.json").read_text())
    assert [layer["lanes"] for layer in manifest["layers"]] == [2, 2, 2, 2]
    report = _run(sampler_build)
    onchip = report["onchip_ensemble"]
    assert report["label_mismatches"] == 0 and report["passed"]          # ens_passes = 0: the mode network
    assert onchip["samples"] == PASSES and onchip["passes_compared"] == LIMIT * PASSES
    assert onchip["mismatched_passes"] == 0, onchip
    assert onchip["cycles_per_image"] == pytest.approx(PASSES * report["cycles_per_frame"], rel=0.05)
    assert onchip["nll"] != onchip["mode_nll"]                          # the samples are not the mode
    assert json.loads((sampler_build / REPORT_FILE).read_text())["onchip_ensemble"] == onchip
    assert {"bnn2hw_sampler", "bnn2hw_mvau", "bnn2hw_pipe"} <= build_modules(sampler_build)  # what this checked
    assert "PBITS(4)" in (sampler_build / "hw" / "rtl" / "accelerator.sv").read_text().replace(" ", "")


def test_a_wrong_lane_seed_in_the_rtl_is_caught(sampler_build, tmp_path):
    mutant = tmp_path / "mutant"
    shutil.copytree(sampler_build, mutant)
    top = mutant / "hw" / "rtl" / "accelerator.sv"
    seed = json.loads((mutant / "hw" / "posterior" / "manifest.json").read_text())["layers"][0]["lane_seeds"][0]
    text = top.read_text()
    assert text.count(seed) == 1
    top.write_text(text.replace(seed, f"{int(seed, 16) ^ 1:08x}"))
    report = _run(mutant)
    assert report["onchip_ensemble"]["mismatched_passes"] > 0 and not report["passed"]
