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
* ``bnn2hw.eda.shell_run`` runs the model: whole test splits (``simulate_shell``) and a live
  serial port (``serve_stream``).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np

from bnn2hw.eda import verilator
from bnn2hw.eda.rtl_layers import load_manifest, stream_words
from bnn2hw.eda.testbench import top_ports
from bnn2hw.eda.verilator import EdaError
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
