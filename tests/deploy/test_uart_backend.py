"""The deploy driver's uart backend up to the device boundary: through a pseudo-terminal to the
Verilator model of the UART shell + accelerator, it gives the sim backend's labels; a frame the
line corrupts once is sent again; error replies that persist, a missing port or pyserial, and a
line that does not speak the protocol raise DriverError."""

from __future__ import annotations

import os
import shutil
import sys

import numpy as np
import pytest

pytest.importorskip("serial")

from bnn2hw.deploy.package import load_driver  # noqa: E402
from bnn2hw.eda import shell, shell_run  # noqa: E402
from tests.deploy.conftest import quiet_deploy  # noqa: E402
from tests.eda.conftest import digits_test_images, requires_verilator, rtl_build  # noqa: E402

pytestmark = requires_verilator


@pytest.fixture(scope="module")
def uart_setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("uart")
    (root / "build").mkdir()
    build = rtl_build(root / "build", "tfc", 1, (1, 8, 8), "digits", 100_000, seed=21, runtime_weights=True)
    package = root / "package"
    quiet_deploy(build, package)
    process, port = shell_run.serve_stream(build, cycles_per_bit=8)
    try:
        yield build, package, port
    finally:
        process.terminate()
        process.wait(timeout=30)
        os.close(process.slave_fd)
        shutil.rmtree(process.workdir, ignore_errors=True)


def test_crc8_matches_the_shell_model(uart_setup):
    driver = load_driver(uart_setup[1])
    assert driver.crc8(b"123456789") == 0xF4
    data = bytes(range(256))
    assert driver.crc8(data) == shell.crc8(data)
    row = np.arange(5, dtype=np.uint8)                    # the frames the host sends, A5 and A6 (K = 3)
    assert driver.UartBackend.frame(row, None) == shell.frame(row.tobytes())
    assert driver.UartBackend.frame(row, 3) == shell.frame(row.tobytes(), 3)


def test_uart_backend_gives_sim_labels_on_digits(uart_setup):
    _, package, port = uart_setup
    driver = load_driver(package)
    spec = driver.load_spec(package)
    images = digits_test_images()
    backend = driver.UartBackend(spec, package, 100, port=port)
    try:
        uart_labels, _ = driver.predict(backend, images, spec, package)
    finally:
        backend.close()
    sim_labels, _ = driver.predict(driver.SimBackend(spec, package, 100), images, spec, package)
    assert len(uart_labels) == 359
    np.testing.assert_array_equal(uart_labels, sim_labels)


def test_validate_command_line_over_uart(uart_setup, capsys):
    _, package, port = uart_setup
    driver = load_driver(package)
    status = driver.main(["--validate", "--backend", "uart", "--port", port, "--limit", "20"], package=package)
    out = capsys.readouterr().out
    assert status == 0, out
    assert '"mismatches_with_simulator": 0' in out and '"backend": "uart"' in out
    assert '"frames_resent": 0' in out


def test_error_reply_raises_and_backend_recovers(uart_setup, monkeypatch):
    _, package, port = uart_setup
    driver = load_driver(package)
    spec = driver.load_spec(package)
    images = digits_test_images(3)
    backend = driver.UartBackend(spec, package, 1, port=port)
    try:
        packed = driver.pack_inputs(driver.check_images(images, spec), spec)
        good = backend.execute(packed)
        # the backend's own module computes the frame CRC (driver.py re-exports it)
        monkeypatch.setattr(sys.modules[driver.UartBackend.__module__], "crc8", lambda data: 0x00)
        with pytest.raises(driver.DriverError, match="error 1: CRC mismatch.*still after 2 resends"):
            backend.execute(packed[:1])
        monkeypatch.undo()
        np.testing.assert_array_equal(backend.execute(packed), good)
    finally:
        backend.close()


def test_a_frame_the_line_corrupts_once_is_sent_again(uart_setup, monkeypatch):
    _, package, port = uart_setup
    driver = load_driver(package)
    spec = driver.load_spec(package)
    packed = driver.pack_inputs(driver.check_images(digits_test_images(3), spec), spec)
    backend = driver.UartBackend(spec, package, 1, port=port)
    module = sys.modules[driver.UartBackend.__module__]
    honest, corrupted = module.crc8, []

    def crc8_corrupting_frame_1_once(data):
        if bytes(data) == packed[1].tobytes() and not corrupted:
            corrupted.append(True)
            return honest(data) ^ 0x01
        return honest(data)
    try:
        good = backend.execute(packed)
        monkeypatch.setattr(module, "crc8", crc8_corrupting_frame_1_once)
        again = backend.execute(packed)                   # one window: frames 0, 1, 2 back to back
    finally:
        backend.close()
    assert corrupted and backend.resent == 2              # frame 1 and the frame the shell dropped behind it
    np.testing.assert_array_equal(again, good)


def test_refusals(uart_setup, monkeypatch):
    _, package, _ = uart_setup
    driver = load_driver(package)
    spec = driver.load_spec(package)
    with pytest.raises(driver.DriverError, match="--port"):
        driver.UartBackend(spec, package, 1)
    backend = driver.UartBackend(spec, package, 1, port="loop://", timeout=0.5)  # echoes the frame back
    packed = np.zeros((1,) + tuple(spec["input"]["shape_packed"][1:]), np.uint8)
    with pytest.raises(driver.DriverError, match="unexpected byte 0xA5"):
        backend.execute(packed)
    with pytest.raises(driver.DriverError, match="no weight port"):
        backend.load_weights({})
    backend.close()
    monkeypatch.setitem(sys.modules, "serial", None)
    with pytest.raises(driver.DriverError, match="pyserial"):
        driver.UartBackend(spec, package, 1, port="loop://")


def test_a_board_without_the_sampler_refuses_ensemble_frames(uart_setup):
    """An A6 frame to a shell whose accelerator has no sampler: error 6, reported at once (not resent)."""
    _, package, port = uart_setup
    driver = load_driver(package)
    spec = driver.load_spec(package)
    assert spec["onchip_ensemble"] is None
    packed = driver.pack_inputs(driver.check_images(digits_test_images(2), spec), spec)
    backend = driver.UartBackend(spec, package, 1, port=port)
    try:
        good = backend.execute(packed)
        with pytest.raises(driver.DriverError, match="error 6.*no posterior sampler"):
            backend.execute_passes(packed, 2)
        assert backend.resent == 0
        np.testing.assert_array_equal(backend.execute(packed), good)   # the shell resynchronised
    finally:
        backend.close()
