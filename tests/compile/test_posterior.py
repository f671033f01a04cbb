"""compile --posterior-bits: quantization of the flip probabilities, the exported files, refusals,
and the on-chip ensemble end to end (compile -> build -> simulate --ensemble)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bnn2hw.cli import main
from bnn2hw.compile import CompileError, compile_run
from bnn2hw.models import ModelConfig
from bnn2hw.posterior_memory import (
    dequantize, flip_probability, quantize_flip_probability, read_posterior,
)
from tests.compile.conftest import write_untrained_run


@pytest.mark.parametrize("bits", [1, 2, 4, 8, 16])
def test_quantization_round_trips_and_stays_within_half_a_step(bits):
    codes = np.arange((1 << (bits - 1)) + 1)
    assert np.array_equal(quantize_flip_probability(dequantize(codes, bits), bits), codes)
    p = np.linspace(0.0, 0.5, 10001)
    q = quantize_flip_probability(p, bits)
    assert q.min() == 0 and q.max() == 1 << (bits - 1)               # 0.5 -> 2^(B-1): fits B bits
    assert np.all(np.abs(dequantize(q, bits) - p) <= 2.0 ** -(bits + 1) + 1e-15)
    step = 2.0 ** -bits                                               # round half up at the boundaries
    assert quantize_flip_probability(np.array([step / 2, step / 2 - 1e-12]), bits).tolist() == [1, 0]


def test_flip_probability_is_sigmoid_of_minus_twice_the_magnitude():
    latent = np.array([0.0, 0.5, -0.5, 3.0, -40.0, 300.0])
    assert np.allclose(flip_probability(latent), 1 / (1 + np.exp(2 * np.abs(latent))))
    assert flip_probability(np.array([0.0]))[0] == 0.5 and flip_probability(np.array([1e4]))[0] == 0.0


def test_posterior_bits_on_an_ste_run_is_refused_naming_the_method(tmp_path, capsys):
    run = write_untrained_run(tmp_path / "run", ModelConfig("tfc", 1, (1, 8, 8), 10))
    with pytest.raises(CompileError, match="method 'ste' has no posterior"):
        compile_run(run, tmp_path / "b", posterior_bits=4)
    assert main(["compile", str(run), "--out", str(tmp_path / "c"), "--posterior-bits", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'ste'" in err[0] and "--posterior-bits" in err[0]
    assert not (tmp_path / "c" / "model.onnx").exists()


@pytest.mark.parametrize("method", ["bayesbinn", "pbnet", "pbnet-s"])
def test_methods_with_a_posterior_may_export_it_and_others_may_not(method):
    from bnn2hw.compile.posterior import check_posterior_request
    check_posterior_request({"config": {"method": method}}, 4, None)
    check_posterior_request({"config": {"method": "ste"}}, 0, None)      # 0: no sampler, any method
    for other in ("ste", "lns"):
        with pytest.raises(CompileError, match=f"method '{other}' has no posterior"):
            check_posterior_request({"config": {"method": other}}, 1, None)
    with pytest.raises(CompileError, match="0..16"):
        check_posterior_request({"config": {"method": method}}, 17, None)


@pytest.fixture(scope="module")
def posterior_build(tfc_digits_run, tmp_path_factory):
    from bnn2hw.hw import build
    out = tmp_path_factory.mktemp("posterior_build")
    summary = compile_run(tfc_digits_run, out, posterior_bits=4)
    build(out, board="pynq-z2", fps=100_000, verify_limit=8, stop_after="estimates", log=lambda _: None)
    return out, summary


def test_compile_exports_the_posterior_beside_the_mode_network(posterior_build, tfc_digits_run):
    import torch
    out, summary = posterior_build
    assert summary["posterior"]["bits"] == 4 and summary["label_mismatches"] == 0
    assert json.loads((out / "verify.json").read_text())["posterior"]["bits"] == 4
    posterior = read_posterior(out)
    latent = torch.load(tfc_digits_run / "checkpoint.pt", weights_only=True)["latent"]
    assert len(posterior.flips) == len(latent)
    for flip, lam in zip(posterior.flips, latent):
        expected = np.floor(flip_probability(lam.double().numpy().T) * 16 + 0.5)
        assert np.array_equal(flip, expected.astype(np.uint8))
    with pytest.raises(CompileError, match="relative to the posterior mode"):
        compile_run(tfc_digits_run, out / "x", sample=1, posterior_bits=4)


def test_simulate_ensemble_runs_the_onchip_sampler_reproducibly(posterior_build):
    from bnn2hw.sim import simulate
    out, _ = posterior_build
    first = simulate(out, ensemble=10)
    second = simulate(out, ensemble=10)
    onchip = first["onchip_ensemble"]
    assert "ensemble" not in first                                   # no samples/: the host ensemble is not run
    assert onchip == second["onchip_ensemble"]                      # bit for bit
    assert onchip["samples"] == 10 and onchip["bits"] == 4 and onchip["overflows"] == 0
    assert np.isfinite(onchip["nll"]) and onchip["nll"] < onchip["mode_nll"] == first["mode_nll"]
    assert abs(onchip["flip_share"] - onchip["expected_flip_share"]) < 0.01


def test_shell_ensembles_need_the_rtl_sampler(posterior_build):
    from bnn2hw.eda import EdaError
    from bnn2hw.pipeline import run_shellsim
    out, _ = posterior_build                                          # no --impl rtl: no stitched sampler
    with pytest.raises(EdaError, match="no RTL manifest; build with .*--impl rtl"):
        run_shellsim(out, limit=4, ensemble=4)


def test_the_cli_prints_the_onchip_ensemble_and_refuses_shell_ensembles_without_rtl_in_one_line(posterior_build,
                                                                                                 capsys):
    out, _ = posterior_build
    assert main(["simulate", str(out), "--ensemble", "4", "--limit", "100"]) == 0
    assert "on-chip ensemble (4 passes of the 4-bit sampler" in capsys.readouterr().out
    assert main(["simulate", str(out), "--shell", "--ensemble", "4", "--limit", "4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no RTL manifest" in err[0]


def test_the_build_writes_the_probability_memories_and_lane_seeds(posterior_build):
    from bnn2hw.sim.accelerator import Accelerator
    from bnn2hw.sim.kernels.mvau import MVAU
    from bnn2hw.sim.posterior import mvau_matrix
    from bnn2hw.sim.sampler import lane_seeds
    out, _ = posterior_build
    manifest = json.loads((out / "hw" / "posterior" / "manifest.json").read_text())
    posterior = read_posterior(out)
    kernels = [k for k in Accelerator.load(out / "hw").kernels if isinstance(k, MVAU)]
    assert manifest["bits"] == 4 and [m["node"] for m in manifest["layers"]] == [k.node.name for k in kernels]
    for entry, kernel, flip in zip(manifest["layers"], kernels, posterior.flips):
        lines = (out / "hw" / "posterior" / entry["file"]).read_text().split()
        assert len(lines) == entry["wmem"] == kernel.mw * kernel.mh // (kernel.pe * kernel.simd)
        codes, sf_count = mvau_matrix(flip), kernel.mw // kernel.simd
        for address in (0, len(lines) - 1):
            value, nf, sf = int(lines[address], 16), address // sf_count, address % sf_count
            for pe in range(kernel.pe):
                for s in range(kernel.simd):
                    e = pe * kernel.simd + s
                    assert (value >> (4 * e)) & 0xF == codes[sf * kernel.simd + s, nf * kernel.pe + pe]
        seeds = lane_seeds(posterior.seed, entry["layer"], entry["lanes"])
        assert entry["lane_seeds"] == [f"{v:08x}" for v in seeds.tolist()] and entry["elements_per_lane"] == 8
