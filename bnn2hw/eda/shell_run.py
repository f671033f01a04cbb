"""The UART shell's Verilator model run on a build: whole test splits, and a live serial port.

The protocol, the parameters and the model's build are ``bnn2hw.eda.shell``'s; this module drives
``hw/tb/uart_tb.cpp`` (a bit-level UART on both lines) and checks what comes back.

Contract:
* ``simulate_shell(build_dir, images, cycles_per_bit, log, ensemble, true_labels)`` runs shell +
  accelerator (at
  ``cycles_per_bit``; None: the bitstream's own clock and baud rate, ``sim_parameters``) in
  Verilator (``hw/tb/uart_tb.cpp``: a bit-level UART on both lines) on the raw uint8 ``images``
  sent back to back, then on corrupted frames (``BAD_FRAMES``: a wrong CRC, a flipped payload bit,
  a dropped byte, a stray byte; without a sampler also an ensemble frame, refused) each followed by
  a good frame, and writes ``BUILD/shellsim.json``:
  ``images``, ``label_mismatches`` (replies whose output bytes, label or scores, differ from
  ``bnn2hw.sim``'s),
  ``error_frames``, ``error_frames_detected`` (right error code), ``recovered`` (good frames after
  errors answered correctly), ``cycles``, ``cycles_per_image``, ``line_cycles_per_image`` (the
  longer of frame and reply on its line: the UART's bound), ``cycles_per_bit``,
  ``sim_seconds``, ``build_seconds``, ``clk_hz``, ``baud``, ``board_images_per_s`` (the line's
  bound at that clock and baud), ``board_images_per_s_115200`` and ``passed``. With ``ensemble``
  = K (a build with a sampler; ``EdaError`` without one) the images go as ``A6`` frames of K
  passes: ``wrong_replies`` counts the passes whose integer scores differ from
  ``bnn2hw.sim.posterior.onchip_members`` (what ``bnn2hw simulate --rtl --ensemble`` checks), and
  ``onchip_ensemble`` holds ``samples``, ``passes_compared``, ``mismatched_passes`` and, with
  ``true_labels``, the averaged softmax(``output_scale`` · scores)'s ``accuracy``, ``nll``, ``ece``
  beside the mode network's (``bnn2hw.sim``'s scores) ``mode_nll``, ``mode_accuracy``; the
  corrupted frames and their recoveries stay ``A5`` frames (K changes back to 0: the pipeline
  drains once).
* ``serve_stream(build_dir, cycles_per_bit)`` starts the model in stream mode on a fresh
  pseudo-terminal and returns ``(process, port)``: a pyserial port name any host program (the
  deploy driver's uart backend) can open; the caller terminates the process, then closes
  ``process.slave_fd`` and removes ``process.workdir``. Simulated time stops while the host is
  silent (the inter-byte timeout runs only after 20 ms of wall-clock silence).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

from bnn2hw.eda.rtlsim import load_design
from bnn2hw.eda.shell import (REPORT_FILE, bit_cycles, frame, image_payloads, model, out_bytes, parse_replies)
from bnn2hw.eda.shell_ensemble import PassCheck, metrics as ensemble_metrics
from bnn2hw.eda.verilator import EdaError, ToolFailed


BAD_FRAMES = {"crc": 1, "flipped_bit": 1, "dropped_byte": 2, "stray_byte": 5}
REFUSED_ENSEMBLE = {"ensemble_frame": 6}   # an A6 frame to a shell without a sampler


def bad_frames(ensemble: bool) -> dict:
    """The corrupted frames a run sends: ``BAD_FRAMES``, and without a sampler an A6 frame."""
    return BAD_FRAMES if ensemble else {**BAD_FRAMES, **REFUSED_ENSEMBLE}


def _bad_frame(kind: str, payload: np.ndarray) -> bytes:
    good = frame(payload.tobytes())
    if kind == "crc":
        return good[:-1] + bytes([good[-1] ^ 0xFF])
    if kind == "flipped_bit":
        return good[:3] + bytes([good[3] ^ 0x10]) + good[4:]
    if kind == "dropped_byte":
        return good[:5] + good[6:]
    if kind == "ensemble_frame":
        return frame(payload.tobytes(), 2)
    return b"\x00"


def host_schedule(payloads: np.ndarray, timeout_cycles: int, passes: int | None = None,
                  cases: dict = BAD_FRAMES) -> tuple[np.ndarray, list]:
    """uart_tb host entries ((gap << 8) | byte) and the replies expected, ``("ok", image, pass)`` (pass
    None: the mode network) or ``("error", code)``: the images back to back (A6 frames of ``passes``
    when given: that many replies each), then each of ``cases`` after a quiet gap, each followed by a
    good A5 frame (image i)."""
    entries, expected = [], []

    def send(data: bytes, gap: int) -> None:
        entries.extend([(gap << 8) | data[0]] + list(data[1:]))
    for index, payload in enumerate(payloads):
        send(frame(payload.tobytes(), passes), 0 if index else 64 * 16)   # the line idle through power-on reset
        expected.extend([("ok", index, k) for k in range(passes)] if passes else [("ok", index, None)])
    for index, (kind, code) in enumerate(cases.items()):
        send(_bad_frame(kind, payloads[index % len(payloads)]), 2 * timeout_cycles)
        expected.append(("error", code))
        send(frame(payloads[index % len(payloads)].tobytes()), 2 * timeout_cycles)
        expected.append(("ok", index % len(payloads), None))
    return np.array(entries, dtype="<u4"), expected


def _run_model(exe: Path, build_dir: Path, entries: np.ndarray, n_expect: int, timeout_cycles: int):
    """(board bytes, the cycle of each, the model's stdout) of one batch run of ``uart_tb``."""
    work = load_design(build_dir).workdir(scramble_runtime=False)
    try:
        entries.tofile(work / "host.bin")
        run = subprocess.run([str(exe), "batch", str(work / "host.bin"), str(len(entries)), str(work / "board.bin"),
                              str(work / "cycles.bin"), str(n_expect), str(100 * timeout_cycles + 100_000)],
                             capture_output=True, text=True, cwd=work, check=False, timeout=3600)
        if run.returncode != 0:
            raise ToolFailed(f"UART shell simulation failed (status {run.returncode}): {run.stderr.strip()[:800]}")
        return (work / "board.bin").read_bytes(), np.fromfile(work / "cycles.bin", dtype="<u8"), run.stdout
    finally:
        shutil.rmtree(work, ignore_errors=True)


def simulate_shell(build_dir: Path, images: np.ndarray, cycles_per_bit: int | None = None, log=print,
                   ensemble: int | None = None, true_labels: np.ndarray | None = None) -> dict:
    build_dir = Path(build_dir)
    exe, params, built = model(build_dir, cycles_per_bit)
    if ensemble and not params["ENSEMBLE"]:
        raise EdaError(f"--shell --ensemble {ensemble}: {build_dir}'s accelerator has no posterior sampler (the "
                       f"shell refuses A6 frames, error 6); compile with --posterior-bits and build --impl rtl")
    cycles_per_bit = bit_cycles(params)
    log(f"  verilator: UART shell + accelerator built in {built:.1f} s ({cycles_per_bit} cycles per bit)")
    payloads, outputs = image_payloads(build_dir, images, params)
    cases = bad_frames(bool(params["ENSEMBLE"]))
    entries, expected = host_schedule(payloads, params["TIMEOUT_CYCLES"], ensemble or None, cases)
    nout, replies_per_image = out_bytes(params), max(ensemble or 0, 1)
    n_expect = sum(nout + 2 if e[0] == "ok" else 2 for e in expected)
    t0 = time.perf_counter()
    board, when, stdout = _run_model(exe, build_dir, entries, n_expect, params["TIMEOUT_CYCLES"])
    seconds = time.perf_counter() - t0
    passes = PassCheck(build_dir, images, ensemble, params) if ensemble else None

    def good(body: bytes, image: int, k: int | None) -> bool:
        return body == outputs[image].tobytes() if k is None else passes.matches(body, image, k)
    report = _compare(parse_replies(board, nout), expected, good, len(images) * replies_per_image, len(images))
    if passes is not None:
        report["onchip_ensemble"] = ensemble_metrics(passes, true_labels)
    per_image = replies_per_image * (nout + 2)
    ends = when[per_image - 1:per_image * len(images):per_image].astype(np.int64)
    frame_bytes = params["IN_BYTES"] + (4 if ensemble else 2)
    frame_bits = 10 * max(frame_bytes, per_image)  # full duplex: the longer direction bounds
    report.update(cycles=int(stdout.split()[-1]), cycles_per_bit=cycles_per_bit,
                  cycles_per_image=round(float(np.diff(ends).mean()), 2) if len(ends) > 1 else None,
                  line_cycles_per_image=frame_bits * cycles_per_bit, frame_bytes=frame_bytes,
                  reply_bytes=per_image, board_images_per_s_115200=round(115200 / frame_bits, 1),
                  clk_hz=params["CLK_HZ"], baud=params["BAUD"],
                  board_images_per_s=round(params["CLK_HZ"] / (frame_bits * cycles_per_bit), 1),
                  sim_seconds=round(seconds, 2), build_seconds=round(built, 2), parameters=params)
    report["passed"] = (report["wrong_replies"] == 0 and report["missing_replies"] == 0
                        and report["error_frames_detected"] == report["error_frames"]
                        and report["recovered"] == len(cases))
    (build_dir / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
    return report


def _compare(replies: list, expected: list, good, n_image_replies: int, n_images: int) -> dict:
    """Replies against ``host_schedule``'s expectations; ``good(body, image, pass)`` checks an ok reply."""
    mismatches, detected, recovered, errors = 0, 0, 0, 0
    for position, want in enumerate(expected):
        got = replies[position] if position < len(replies) else None
        if want[0] == "ok":
            ok = got is not None and got[0] == "ok" and got[2] and good(got[1], want[1], want[2])
            if position < n_image_replies:
                mismatches += not ok
            else:
                recovered += ok
        else:
            errors += 1
            detected += got == want
    return {"images": n_images, "wrong_replies": int(mismatches), "error_frames": errors,
            "error_frames_detected": int(detected), "recovered": int(recovered),
            "missing_replies": max(0, len(expected) - len(replies)), "extra_replies": max(0, len(replies) - len(expected))}


def serve_stream(build_dir: Path, cycles_per_bit: int | None = 8, idle_ms: int = 20) -> tuple[subprocess.Popen, str]:
    """The shell model behind a new pseudo-terminal: (process, port name for pyserial)."""
    import tty
    exe, params, _ = model(build_dir, cycles_per_bit)
    cycles_per_bit = bit_cycles(params)
    work = load_design(build_dir).workdir(scramble_runtime=False)
    master, slave = os.openpty()
    tty.setraw(slave)
    port = os.ttyname(slave)
    estimates = Path(build_dir) / "hw" / "estimates.json"
    latency = json.loads(estimates.read_text()).get("latency_cycles", 0) if estimates.is_file() else 0
    settle = 64 * cycles_per_bit + 2 * int(latency or 10_000)
    process = subprocess.Popen([str(exe), "stream", str(idle_ms), str(settle)], stdin=master, stdout=master, cwd=work)
    os.close(master)
    process.slave_fd = slave          # kept open so the terminal outlives short-lived opens of `port`
    process.workdir = work
    return process, port
