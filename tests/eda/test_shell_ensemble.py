"""The on-chip ensemble through the UART shell (Verilator, bit-level UART) against bnn2hw.sim.

The sampler build of ``tests/eda/conftest.py`` (BayesBiNN TFC on digits, ``--posterior-bits 4``,
``--impl rtl --output scores``) behind the shell: ``A6`` frames of K = 3 give 3 replies per image,
each pass's integer scores equal to ``bnn2hw.sim.posterior.onchip_members`` (0 wrong replies), and
the corrupted frames after them (``A5``, K = 0) still answer right. Frames whose K changes from one
to the next (the passes gate drains the pipeline between them) each get their own passes. A shell
around an accelerator without a sampler answers an ``A6`` frame with error 6, and the host side
refuses ``--shell --ensemble`` on such a build before simulating.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from bnn2hw.eda import shell, shell_run
from bnn2hw.eda.shell_ensemble import PassCheck
from bnn2hw.eda.verilator import EdaError
from bnn2hw.sim import api as sim_api
from tests.eda.conftest import declared_modules, digits_test_images, requires_verilator

LIMIT, PASSES = 24, 3


def test_ensemble_frame_format():
    payload = bytes([1, 2, 3])
    data = shell.frame(payload, 3)
    assert data[0] == shell.START_PASSES and data[1:3] == b"\x03\x00" and data[3:6] == payload
    assert data[6] == shell.crc8(b"\x03\x00" + payload)                # the CRC covers K too
    assert shell.frame(payload, 0x1234)[1:3] == b"\x34\x12"            # K little-endian
    assert shell.frame(payload) == bytes([shell.START]) + payload + bytes([shell.crc8(payload)])
    with pytest.raises(EdaError, match="0 .. 65535"):
        shell.frame(payload, 1 << 16)


@requires_verilator
def test_shell_gives_every_pass_of_the_sampler(sampler_build, tmp_path):
    images, labels, _ = sim_api.test_split(sampler_build, None, None, LIMIT)
    report = shell_run.simulate_shell(sampler_build, images, cycles_per_bit=8, log=lambda _: None, ensemble=PASSES,
                                  true_labels=labels)
    onchip = report["onchip_ensemble"]
    assert report["parameters"]["ENSEMBLE"] == 1
    assert report["wrong_replies"] == 0 and report["missing_replies"] == 0 and report["extra_replies"] == 0
    assert onchip["passes_compared"] == LIMIT * PASSES and onchip["mismatched_passes"] == 0, onchip
    assert report["error_frames_detected"] == report["error_frames"] == len(shell_run.BAD_FRAMES)
    assert report["recovered"] == len(shell_run.BAD_FRAMES) and report["passed"]
    assert onchip["nll"] != onchip["mode_nll"]                          # the passes are not the mode network
    assert report["reply_bytes"] == PASSES * (shell.out_bytes(report["parameters"]) + 2)
    assert json.loads((sampler_build / shell.REPORT_FILE).read_text())["onchip_ensemble"] == onchip
    sources = shell.write_shell(sampler_build, report["parameters"], tmp_path)
    assert {"bnn2hw_uart_passes", "bnn2hw_sampler"} <= declared_modules(sources)
    assert ".ens_passes(ens_passes)" in (tmp_path / f"{shell.ADAPTER}.sv").read_text()


@requires_verilator
def test_frames_of_changing_k_each_get_their_passes(sampler_build):
    """K = 2, 0, 3, 3, 1, 0, 2 back to back: every change of K waits for the pipeline to drain."""
    ks = [2, 0, 3, 3, 1, 0, 2]
    images = digits_test_images(len(ks))
    exe, params, _ = shell.model(sampler_build, 8)
    payloads, outputs = shell.image_payloads(sampler_build, images, params)
    check = PassCheck(sampler_build, images, max(ks), params)
    entries = [(64 * 16 << 8) | shell.frame(payloads[0].tobytes(), ks[0])[0]]
    entries += list(shell.frame(payloads[0].tobytes(), ks[0])[1:])
    for payload, k in zip(payloads[1:], ks[1:]):
        entries += list(shell.frame(payload.tobytes(), k))
    nout = shell.out_bytes(params)
    n_expect = sum(max(k, 1) for k in ks) * (nout + 2)
    board, _, _ = shell_run._run_model(exe, sampler_build, np.array(entries, "<u4"), n_expect, params["TIMEOUT_CYCLES"])
    replies = shell.parse_replies(board, nout)
    assert len(replies) == sum(max(k, 1) for k in ks) and all(r[0] == "ok" and r[2] for r in replies)
    position = 0
    for image, k in enumerate(ks):
        if k == 0:
            assert replies[position][1] == outputs[image].tobytes()      # the mode network, one reply
        else:
            assert all(check.matches(replies[position + j][1], image, j) for j in range(k)), (image, k)
        position += max(k, 1)


@requires_verilator
def test_a_shell_without_a_sampler_refuses_ensemble_frames(tfc_rtl):
    report = shell_run.simulate_shell(tfc_rtl, digits_test_images(4), cycles_per_bit=8, log=lambda _: None)
    assert report["parameters"]["ENSEMBLE"] == 0
    assert report["error_frames"] == len(shell_run.bad_frames(False)) == len(shell_run.BAD_FRAMES) + 1
    assert report["error_frames_detected"] == report["error_frames"] and report["passed"]   # A6 -> EE 06
    with pytest.raises(EdaError, match="no posterior sampler"):
        shell_run.simulate_shell(tfc_rtl, digits_test_images(4), cycles_per_bit=8, log=lambda _: None, ensemble=2)
