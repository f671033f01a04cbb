"""The UART shell (``hw/shell/``): parameters and wrapper for a build, and its Verilator model.

Protocol (the shell's module header, ``hw/shell/bnn2hw_uart_shell.sv``, is the definition; the
deploy driver's ``UartBackend`` is the host side). 8N1 at ``baud``; CRC is CRC-8/SMBUS
(polynomial 0x07, initial value 0, MSB first, no final XOR; ``crc8(b"123456789") == 0xF4``):

* host -> board: ``A5``, ``in_bytes`` payload bytes (one image's packed input stream, exactly
  what the driver's ``pack_inputs`` gives for one image: words of ``ceil(IN_WIDTH/8)`` bytes,
  little-endian), ``CRC(payload)``; or the ensemble frame ``A6``, K (two bytes, little-endian),
  the payload, ``CRC(K's bytes + payload)``: K passes of the on-chip sampler (a build compiled
  with ``--posterior-bits``: the accelerator's ``ens_passes``), answered by K replies, pass 0
  first (K = 0: the mode network, one reply, as an ``A5`` frame). A shell around an accelerator
  without a sampler refuses every ``A6`` frame with error 6 (``frame(payload, passes)``);
* board -> host: ``5A``, ``out_bytes`` (the packed output stream of that image: ``OUT_WORDS``
  words of ``ceil(OUT_WIDTH/8)`` bytes, little-endian; a LabelSelect network: one byte, the class
  index; a ``--output scores`` build: the last MVAU's accumulators, PE of them a word, as the
  driver's ``unpack_outputs`` reads them), ``CRC(output bytes)``; or ``EE``, ``code`` (``ERRORS``:
  1 CRC mismatch, 2 timeout inside a frame (a lost byte), 3 framing error, 4 overrun, 5 no START
  where a frame begins, 6 an ensemble frame without a sampler). After an error the shell ignores bytes until the line has been quiet
  for ``timeout_cycles``. Only checked frames reach the accelerator, so a lost or corrupted byte
  gives an error reply, never a wrong label. Replies come in frame order.

Contract:
* ``shell_parameters(build_dir, clk_hz, baud, timeout_cycles)`` -> the ``bnn2hw_uart_shell``
  parameter dict of a ``--impl rtl`` build (``CLK_HZ``, ``BAUD``, ``IN_BYTES``, ``IN_WIDTH``,
  ``OUT_WIDTH``, ``OUT_WORDS``, ``TIMEOUT_CYCLES``, ``ENSEMBLE``: 1 when the stitched top has the
  sampler's ``ens_passes``); refuses a baud rate the clock cannot divide to
  within 2 % or to fewer than 4 cycles per bit (``EdaError``).
* ``write_shell(build_dir, params, out_dir, pll)`` writes the generated modules
  (``bnn2hw_shell_accelerator``: ``accelerator`` behind fixed ports, AXI-lite tied off,
  ``ens_passes`` connected where the top has it;
  ``bnn2hw_uart_top``: the board top, ports ``clk``, ``uart_rx``, ``uart_tx``, ``led[7:0]``, the
  shell with ``params``, on ``clk`` itself or, given a ``pll`` (``bnn2hw.eda.ecp5_pll``), on the
  PLL's output, its lock holding the shell in reset; then the PLL's module too) into ``out_dir``
  (default ``BUILD/hw/shell/``) and returns every source of the board design in compile order
  (the build's ``files.f``, ``hw/shell/*.sv``, the generated files); the top module is ``TOP``.
  The Verilator model is built without a PLL, at the shell's own clock.
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
import tempfile
import time
from pathlib import Path

import numpy as np

from bnn2hw.eda import verilator
from bnn2hw.eda.rtl_layers import load_manifest, stream_words
from bnn2hw.eda.rtlsim import load_design
from bnn2hw.eda.shell_ensemble import PassCheck, metrics as ensemble_metrics
from bnn2hw.eda.testbench import top_ports
from bnn2hw.eda.verilator import EdaError, ToolFailed
from bnn2hw.assets import hw_sources_dir

SHELL_DIR = hw_sources_dir() / "shell"
TB_SOURCE = hw_sources_dir() / "tb" / "uart_tb.cpp"
SHELL_SOURCES = ("bnn2hw_crc8.sv", "bnn2hw_uart_rx.sv", "bnn2hw_uart_tx.sv", "bnn2hw_uart_framer.sv",
                 "bnn2hw_uart_replier.sv", "bnn2hw_uart_passes.sv", "bnn2hw_uart_shell.sv")
TOP, ADAPTER, EXE, REPORT_FILE = "bnn2hw_uart_top", "bnn2hw_shell_accelerator", "uart_tb", "shellsim.json"
START, START_PASSES, REPLY_OK, REPLY_ERROR = 0xA5, 0xA6, 0x5A, 0xEE
PASSES_PORT, MAX_PASSES = "ens_passes", 0xFFFF
ERRORS = {1: "CRC mismatch", 2: "timeout inside a frame (a lost byte)", 3: "framing error (bad stop bit)",
          4: "overrun (frames faster than the accelerator)", 5: "no START byte where a frame begins",
          6: "ensemble frame (A6) to an accelerator without the posterior sampler"}
SIM_CLK_HZ = 24_000_000
STITCHED = {"ap_clk": "clk", "ap_rst_n": "rst_n", "s_axis_0_tdata": "s_axis_tdata",
            "s_axis_0_tvalid": "s_axis_tvalid", "s_axis_0_tready": "s_axis_tready",
            "m_axis_0_tdata": "m_axis_tdata", "m_axis_0_tvalid": "m_axis_tvalid",
            "m_axis_0_tready": "m_axis_tready"}


def _crc_table() -> np.ndarray:
    table = np.zeros(256, np.uint8)
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table[byte] = crc
    return table


CRC_TABLE = _crc_table()


def crc8(data) -> int:
    crc = 0
    for byte in bytes(data):
        crc = int(CRC_TABLE[crc ^ byte])
    return crc


def frame(payload, passes: int | None = None) -> bytes:
    """An ``A5`` frame of ``payload``; with ``passes`` = K an ``A6`` ensemble frame (K two bytes, little-endian)."""
    payload = bytes(payload)
    if passes is None:
        return bytes([START]) + payload + bytes([crc8(payload)])
    if not 0 <= passes <= MAX_PASSES:
        raise EdaError(f"passes K = {passes}: the frame header holds 0 .. {MAX_PASSES}")
    body = int(passes).to_bytes(2, "little") + payload
    return bytes([START_PASSES]) + body + bytes([crc8(body)])


def parse_replies(data: bytes, out_bytes: int) -> list:
    """Board bytes -> list of ``("ok", output bytes, crc good)`` / ``("error", code)`` / ``("junk", byte)``."""
    replies, i = [], 0
    while i < len(data):
        head = data[i]
        if head == REPLY_OK and i + out_bytes + 2 <= len(data):
            body = data[i + 1:i + 1 + out_bytes]
            replies.append(("ok", body, crc8(body) == data[i + 1 + out_bytes]))
            i += out_bytes + 2
        elif head == REPLY_ERROR and i + 2 <= len(data):
            replies.append(("error", data[i + 1]))
            i += 2
        else:
            replies.append(("junk", head))
            i += 1
    return replies


# ---- parameters and the generated wrapper ----

def _stream_geometry(build_dir: Path) -> dict:
    """Words per image and widths of the stitched top's input and output streams."""
    from bnn2hw.sim.accelerator import Accelerator
    manifest = load_manifest(build_dir)
    first, last = manifest["nodes"][0], manifest["nodes"][-1]
    accelerator = Accelerator.load(Path(build_dir) / "hw")
    k0 = accelerator.kernels[0]
    in_words = int(np.prod(k0.input_shape())) // int(first["in_elems"])
    out = accelerator.run_stream(np.zeros((1,) + tuple(k0.input_shape()), np.int64))[
        accelerator.kernels[-1].node.outputs[0]]
    out_words = int(out.size) // int(last["out_elems"])
    return {"in_width": int(first["in_width"]), "out_width": int(last["out_width"]),
            "in_words": in_words, "out_words": out_words, "ensemble": bool(manifest.get("sampler"))}


def shell_parameters(build_dir: Path, clk_hz: int, baud: int, timeout_cycles: int | None = None) -> dict:
    divisor = round(clk_hz / baud)
    if divisor < 4 or abs(clk_hz / divisor - baud) / baud > 0.02:
        raise EdaError(f"baud rate {baud} cannot be made from a {clk_hz} Hz clock (divisor {clk_hz / baud:.2f}): "
                       f"need at least 4 cycles per bit within 2 %; pick a lower baud rate")
    g = _stream_geometry(build_dir)
    return {"CLK_HZ": int(clk_hz), "BAUD": int(baud), "IN_BYTES": g["in_words"] * -(-g["in_width"] // 8),
            "IN_WIDTH": g["in_width"], "OUT_WIDTH": g["out_width"], "OUT_WORDS": g["out_words"],
            "TIMEOUT_CYCLES": int(timeout_cycles if timeout_cycles is not None else max(clk_hz // 50, 40 * divisor)),
            "ENSEMBLE": int(g["ensemble"])}


def out_bytes(params: dict) -> int:
    return params["OUT_WORDS"] * -(-params["OUT_WIDTH"] // 8)


def adapter_sv(accelerator_source: str, in_width: int, out_width: int) -> str:
    """``bnn2hw_shell_accelerator``: ``accelerator`` with its AXI-lite inputs tied to 0 and its
    ``ens_passes`` (a top with the sampler) on the shell's."""
    connections = []
    for name, direction in top_ports(accelerator_source, "accelerator").items():
        if name in STITCHED or name == PASSES_PORT:
            connections.append(f".{name}({STITCHED.get(name, name)})")
        else:
            connections.append(f".{name}('0)" if direction == "input" else f".{name}()")
    joined = ",\n\t\t".join(connections)
    return f"""// generated by bnn2hw.eda.shell: the build's accelerator behind bnn2hw_uart_shell's fixed ports
module {ADAPTER} (
\tinput logic clk, input logic rst_n, input logic [15:0] {PASSES_PORT},
\tinput logic [{in_width - 1}:0] s_axis_tdata, input logic s_axis_tvalid, output logic s_axis_tready,
\toutput logic [{out_width - 1}:0] m_axis_tdata, output logic m_axis_tvalid, input logic m_axis_tready
);
\taccelerator dut (
\t\t{joined}
\t);
endmodule
"""


def top_sv(params: dict, pll=None) -> str:
    """``bnn2hw_uart_top``: the board's top module, the shell with this build's parameters; with a
    ``pll`` (``bnn2hw.eda.ecp5_pll.Pll``) the shell runs on its output, held in reset until it locks."""
    values = ", ".join(f".{k}({v})" for k, v in params.items())
    if pll is None:
        clocking, ports = "", ".clk, .clk_locked(1'b1)"
    else:
        clocking = (f"\tlogic core_clk, core_locked;  // {pll.out_mhz:g} MHz from the {pll.in_mhz:g} MHz clock\n"
                    f"\t{pll.module} pll (.clkin(clk), .clkout0(core_clk), .locked(core_locked));\n")
        ports = ".clk(core_clk), .clk_locked(core_locked)"
    return f"""// generated by bnn2hw.eda.shell: {params['BAUD']} baud at {params['CLK_HZ']} Hz
module {TOP} (
\tinput logic clk,
\tinput logic uart_rx,
\toutput logic uart_tx,
\toutput logic [7:0] led
);
{clocking}\tbnn2hw_uart_shell #({values}) shell ({ports}, .uart_rx, .uart_tx, .led);
endmodule
"""


def write_shell(build_dir: Path, params: dict, out_dir: Path | None = None, pll=None) -> list[Path]:
    build_dir = Path(build_dir)
    rtl_dir = build_dir / "hw" / "rtl"
    manifest = load_manifest(build_dir)
    top = rtl_dir / "accelerator.sv"
    if not top.is_file():
        raise EdaError(f"{top}: no stitched accelerator; rebuild with `bnn2hw build {build_dir} --impl rtl`")
    out_dir = Path(out_dir) if out_dir is not None else build_dir / "hw" / "shell"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{ADAPTER}.sv").write_text(adapter_sv(top.read_text(), params["IN_WIDTH"], params["OUT_WIDTH"]))
    (out_dir / f"{TOP}.sv").write_text(top_sv(params, pll))
    plls = []
    if pll is not None:
        plls = [out_dir / f"{pll.module}.v"]
        plls[0].write_text(pll.verilog)
    return ([rtl_dir / f for f in manifest["files"]] + [SHELL_DIR / name for name in SHELL_SOURCES]
            + plls + [out_dir / f"{ADAPTER}.sv", out_dir / f"{TOP}.sv"])


# ---- Verilator model ----

def build_model(sources: list[Path], divisor: int, cache_dir: Path = verilator.CACHE_DIR, jobs: int = 2) -> Path:
    """``uart_tb`` for these sources (top ``bnn2hw_uart_top``), cached by content."""
    return verilator.build(sources, None, cache_dir=cache_dir, jobs=jobs, testbench=TB_SOURCE, top=TOP,
                           defines={"DIVISOR": divisor}, extra_flags=("-Wno-PINMISSING",))


def line_rate(build_dir: Path) -> tuple[int, int] | None:
    """(shell clock in Hz, baud) of the build's bitstream (``estimates.json["pnr"]``); None without one."""
    estimates = Path(build_dir) / "hw" / "estimates.json"
    pnr = json.loads(estimates.read_text()).get("pnr") if estimates.is_file() else None
    if not pnr or not pnr.get("baud"):
        return None
    return int(pnr.get("clk_hz") or round(float(pnr["clock_mhz"]) * 1e6)), int(pnr["baud"])


def sim_parameters(build_dir: Path, cycles_per_bit: int | None = None) -> dict:
    """Shell parameters for simulation, with a 40-bit inter-byte timeout: ``cycles_per_bit`` clock
    cycles a bit; or, when None, the bitstream's own clock and baud rate (``line_rate``; 8 cycles a
    bit for a build without one)."""
    line = line_rate(build_dir) if cycles_per_bit is None else None
    if line is not None:
        clk_hz, baud = line
        return shell_parameters(build_dir, clk_hz, baud, 40 * ((clk_hz + baud // 2) // baud))
    cycles_per_bit = cycles_per_bit or 8
    return shell_parameters(build_dir, SIM_CLK_HZ, SIM_CLK_HZ // cycles_per_bit, 40 * cycles_per_bit)


def bit_cycles(params: dict) -> int:
    """Clock cycles a bit, as ``bnn2hw_uart_shell`` computes its DIVISOR."""
    return (params["CLK_HZ"] + params["BAUD"] // 2) // params["BAUD"]


def model(build_dir: Path, cycles_per_bit: int | None) -> tuple[Path, dict, float]:
    """(executable, parameters, build seconds) of the shell + accelerator model."""
    verilator.verilator_binary()
    params = sim_parameters(build_dir, cycles_per_bit)
    with tempfile.TemporaryDirectory(prefix="bnn2hw-shell-") as tmp:
        sources = write_shell(build_dir, params, Path(tmp))
        t0 = time.perf_counter()
        exe = build_model(sources, bit_cycles(params))
    return exe, params, time.perf_counter() - t0


def image_payloads(build_dir: Path, images: np.ndarray, params: dict) -> tuple[np.ndarray, np.ndarray]:
    """(input payloads (N, IN_BYTES), expected output bytes (N, out_bytes)) from ``bnn2hw.sim``."""
    from bnn2hw.sim.accelerator import Accelerator
    accelerator = Accelerator.load(Path(build_dir) / "hw")
    streams = accelerator.node_streams(images)
    first, last = accelerator.kernels[0], accelerator.kernels[-1]

    def as_bytes(words: np.ndarray, width: int) -> np.ndarray:
        raw = np.ascontiguousarray(words, dtype="<u4").view(np.uint8)
        return raw.reshape(words.shape[:2] + (-1,))[..., :-(-width // 8)].reshape(len(words), -1)
    words_in = stream_words(streams[first.node.inputs[0]], first.input_type, first.in_word_elems(),
                            params["IN_WIDTH"])
    words_out = stream_words(streams[last.node.outputs[0]], last.output_type, last.out_word_elems(),
                             params["OUT_WIDTH"])
    return as_bytes(words_in, params["IN_WIDTH"]), as_bytes(words_out, params["OUT_WIDTH"])



# ---- whole runs ----

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
