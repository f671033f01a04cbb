"""The deploy driver's on-chip ensemble: a package of a build with the RTL posterior sampler.

``--ensemble K`` there writes no weights: the sim backend's K passes per image equal
``bnn2hw.sim.posterior.onchip_members`` (the RTL sampler's definition), the uart backend (through
a pseudo-terminal to the Verilator model of the UART shell + accelerator) sends K in each frame's
header and gets the same passes back, byte for byte, and both average softmax(output_scale ·
scores) as the PC ensemble does. The pynq backend (FINN's Vivado bitfile has no sampler) refuses
it on a package without runtime weights; a board without the sampler answers an ensemble frame
with error 6, which the uart backend reports at once.
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from bnn2hw.deploy.package import load_driver
from bnn2hw.sim.ensemble import average_probabilities
from bnn2hw.sim.posterior import onchip_members
from tests.deploy import fake_pynq
from tests.deploy.conftest import quiet_deploy
from tests.deploy.test_pynq_backend import board_package_of
from tests.eda.conftest import requires_verilator

PASSES, LIMIT = 3, 12


@pytest.fixture(scope="module")
def onchip_package(sampler_build, tmp_path_factory):
    package = tmp_path_factory.mktemp("onchip") / "pkg"
    quiet_deploy(sampler_build, package, verify_limit=8)
    return package


def _passes_scores(driver, spec, raw: np.ndarray) -> list:
    return [driver.output_scores(driver.unpack_outputs(raw[:, k], spec).reshape(len(raw), -1), spec)
            for k in range(raw.shape[1])]


def test_the_package_records_the_sampler(onchip_package):
    spec = json.loads((onchip_package / "io_spec.json").read_text())
    assert spec["onchip_ensemble"] == {"bits": 4, "posterior": "sim/posterior.json", "max_passes": 65535,
                                       "backends": ["uart", "sim"]}
    assert (onchip_package / "sim" / "posterior.npz").is_file() and "sim/posterior.npz" in spec["manifest"]
    assert "`--ensemble K`: the on-chip posterior ensemble" in (onchip_package / "README.md").read_text()


def test_sim_backend_runs_the_samplers_passes(onchip_package, sampler_build):
    driver = load_driver(onchip_package)
    spec = driver.load_spec(onchip_package)
    images = np.load(onchip_package / "data" / "test.npz")["images"][:LIMIT]
    backend = driver.SimBackend(spec, onchip_package, 100)
    raw = backend.execute_passes(driver.pack_inputs(images, spec), PASSES)
    expected = onchip_members(sampler_build, images, PASSES)
    got = _passes_scores(driver, spec, raw)
    assert all(np.array_equal(g, e) for g, e in zip(got, expected))
    assert not np.array_equal(got[0], got[1])                         # the passes are different samples
    labels, extra = driver._predict(backend, images, spec, onchip_package, PASSES)
    probs = average_probabilities(expected, spec["output"]["output_scale"])
    np.testing.assert_allclose(extra["probabilities"], probs, rtol=0, atol=1e-15)
    assert np.array_equal(labels, np.argmax(probs, axis=1))


def test_pynq_backend_refuses_the_onchip_ensemble_without_runtime_weights(sampler_build, tmp_path, monkeypatch):
    fake_pynq.install(monkeypatch)
    package = board_package_of(sampler_build, tmp_path)
    driver = load_driver(package)
    spec = driver.load_spec(package)
    backend = driver.PynqBackend(spec, package, batch=10)
    images = np.load(package / "data" / "test.npz")["images"][:4]
    with pytest.raises(driver.DriverError, match="no posterior sampler .* --backend uart or sim"):
        driver.predict(backend, images, spec, package, ensemble=2)


@pytest.fixture(scope="module")
def onchip_port(onchip_package, sampler_build):
    pytest.importorskip("serial")
    from bnn2hw.eda import shell_run
    process, port = shell_run.serve_stream(sampler_build, cycles_per_bit=8)
    try:
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)
        os.close(process.slave_fd)
        shutil.rmtree(process.workdir, ignore_errors=True)


@requires_verilator
def test_uart_backend_sends_k_and_gets_the_sims_passes(onchip_package, onchip_port):
    driver = load_driver(onchip_package)
    spec = driver.load_spec(onchip_package)
    images = np.load(onchip_package / "data" / "test.npz")["images"][:LIMIT]
    packed = driver.pack_inputs(images, spec)
    backend = driver.UartBackend(spec, onchip_package, 100, port=onchip_port)
    try:
        raw = backend.execute_passes(packed, PASSES)
        mode = backend.execute(packed)                                 # an A5 frame after: K back to 0
    finally:
        backend.close()
    sim = driver.SimBackend(spec, onchip_package, 100)
    assert raw.shape[:2] == (LIMIT, PASSES) and np.array_equal(raw, sim.execute_passes(packed, PASSES))
    assert np.array_equal(mode, sim.execute(packed)) and backend.resent == 0


@requires_verilator
def test_validate_with_the_onchip_ensemble_over_uart(onchip_package, onchip_port, capsys):
    driver = load_driver(onchip_package)
    args = ["--validate", "--ensemble", str(PASSES), "--limit", str(LIMIT)]
    assert driver.main(args + ["--backend", "uart", "--port", onchip_port], package=onchip_package) == 0
    uart = json.loads(capsys.readouterr().out)
    assert driver.main(args + ["--backend", "sim"], package=onchip_package) == 0
    sim = json.loads(capsys.readouterr().out)
    assert uart["ensemble"] == PASSES and uart["frames_resent"] == 0
    assert uart["nll"] == sim["nll"] and uart["accuracy"] == sim["accuracy"]
