"""Verilator: build a testbench executable once per content hash, run it on packed stream words.

Contract:
* ``verilator_binary()`` is the ``verilator`` on PATH or raises ``ToolFailed`` saying how to
  install it (Debian: ``apt-get install verilator``; ``scripts/setup_venv.sh`` does it as root).
* ``build(sources, tb_top, in_width, out_width)`` compiles ``hw/tb/axis_tb.cpp`` (or another
  ``testbench``) with the generated ``bnn2hw_tb_top`` (``tb_top``: SystemVerilog text) and
  ``sources`` (paths, in order) into ``CACHE/<sha256>/axis_tb``, the hash taken over the
  Verilator version, the testbench, ``tb_top``, the defines and every source's name and bytes
  (memory images are read at run time, so new weights never rebuild). A second build with equal
  content returns at once; Verilator's runtime objects are compiled once per version and reused.
  Compiler errors raise ``ToolFailed`` with their first lines. Source paths are made absolute
  (Verilator runs in the cache directory), so relative build directories work. Builds go to a temporary directory
  renamed into place, so an interrupted or concurrent build never leaves a half-built entry.
* ``run(exe, words_in, n_out, out_width, workdir, stall, seed, axi_writes)`` streams
  ``words_in`` ((n, chunks) uint32, 32-bit chunks little end first) through the design with
  random stalls, in ``workdir`` (where its ``$readmemh`` files are), and returns a ``RunResult``:
  the output words ((n_out, chunks) uint32), the cycle each was taken and the design's stdout.
  ``pace`` = (words, cycles) offers each frame's input no earlier than frame·cycles (a source at
  the bottleneck's rate). A deadlock raises ``EdaError``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import NamedTuple

import numpy as np
from bnn2hw.assets import hw_sources_dir

TB_SOURCE = hw_sources_dir() / "tb" / "axis_tb.cpp"
CACHE_DIR = Path.home() / ".cache" / "bnn2hw" / "verilator"
EXE, TB_TOP = "axis_tb", "bnn2hw_tb_top"
RUNTIME_OBJECTS = ("verilated.o", "verilated_threads.o")
LINT_OFF = ["-Wno-fatal", "-Wno-WIDTH", "-Wno-UNUSED", "-Wno-PINCONNECTEMPTY", "-Wno-DECLFILENAME",
            "-Wno-UNOPTFLAT", "-Wno-LITENDIAN", "-Wno-CASEINCOMPLETE", "-Wno-MULTIDRIVEN", "-Wno-SYMRSVDWORD",
            "-Wno-TIMESCALEMOD"]


class EdaError(Exception):
    """An EDA step refused (a build without RTL, a bad option) or a tool failed; the message says which."""


class ToolFailed(EdaError):
    """A tool bnn2hw runs (Verilator, g++, Yosys, nextpnr) is missing, failed or ran over its time:
    not the user's input, so the command line gives it its own exit status (3)."""


def verilator_binary() -> str:
    path = shutil.which("verilator")
    if path is None:
        raise ToolFailed("Verilator not found: install it (Debian: `apt-get install verilator`; "
                       "`scripts/setup_venv.sh` does it when run as root)")
    return path


def verilator_version() -> str:
    out = subprocess.run([verilator_binary(), "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip()


def chunks(width: int) -> int:
    return max(1, -(-int(width) // 32))


def build_key(sources: list[Path], tb_top: str | None, defines: dict, testbench: Path) -> str:
    digest = hashlib.sha256()
    for part in (verilator_version(), testbench.read_text(), tb_top or "", repr(sorted(defines.items()))):
        digest.update(part.encode() + b"\0")
    for source in sources:
        digest.update(Path(source).name.encode() + b"\0" + Path(source).read_bytes() + b"\0")
    return digest.hexdigest()[:24]


def _first_errors(text: str, lines: int = 12) -> str:
    errors = [line for line in text.splitlines() if "%Error" in line or "error:" in line]
    return "\n".join((errors or text.splitlines())[:lines])


def _runtime_dir(cache_dir: Path) -> Path:
    """Verilator's own runtime objects, compiled once per Verilator version (most of a small build)."""
    return Path(cache_dir) / ("runtime-" + hashlib.sha256(verilator_version().encode()).hexdigest()[:12])


def _make(obj: Path, jobs: int, cache_dir: Path) -> subprocess.CompletedProcess:
    runtime = _runtime_dir(cache_dir)
    reuse = all((runtime / name).is_file() for name in RUNTIME_OBJECTS)
    if reuse:
        for name in RUNTIME_OBJECTS:  # newer than Verilator's sources: make keeps them
            shutil.copy2(runtime / name, obj / name)
    makefile = obj / f"V{TB_TOP}.mk"
    result = subprocess.run(["make", "-C", str(obj), "-f", makefile.name, f"-j{jobs}"], capture_output=True, text=True,
                            check=False)
    if result.returncode == 0 and not reuse:
        staging = Path(tempfile.mkdtemp(prefix="runtime.tmp-", dir=cache_dir))
        for name in RUNTIME_OBJECTS:
            shutil.copy2(obj / name, staging / name)
        try:
            os.rename(staging, runtime)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
    return result


def build(sources: list[Path], tb_top: str | None, in_width: int = 32, out_width: int = 32,
          cache_dir: Path = CACHE_DIR, jobs: int = 2, testbench: Path = TB_SOURCE, top: str = TB_TOP,
          defines: dict | None = None, extra_flags: tuple[str, ...] = ()) -> Path:
    """The testbench executable for these sources (see module docstring); built once per content.

    ``testbench`` (C++) drives module ``top``; ``tb_top`` is generated SystemVerilog added to the
    sources (None: ``top`` is among them); ``defines`` are C++ macros (default: the word chunks
    ``IN_CHUNKS`` / ``OUT_CHUNKS`` of ``axis_tb.cpp``)."""
    # Verilator runs in a cache directory: a path relative to the caller's directory would not resolve there.
    sources, testbench = [Path(s).resolve() for s in sources], Path(testbench).resolve()
    cache_dir = Path(cache_dir).resolve()
    defines = {"IN_CHUNKS": chunks(in_width), "OUT_CHUNKS": chunks(out_width)} if defines is None else defines
    key = build_key(sources, tb_top, {**defines, "top": top, "flags": extra_flags}, Path(testbench))
    target = Path(cache_dir) / key
    if (target / EXE).is_file():
        return target / EXE
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{key}.tmp-", dir=cache_dir))
    try:
        shell = []
        if tb_top is not None:
            (work / f"{TB_TOP}.sv").write_text(tb_top)
            shell = [str(work / f"{TB_TOP}.sv")]
        cflags = " ".join(["-O1"] + [f"-D{k}={v}" for k, v in defines.items()])
        cmd = [verilator_binary(), "--cc", "--exe", "--top-module", top, "--prefix", f"V{TB_TOP}",
               "-O3", "--Mdir", str(work / "obj"), "-o", f"../{EXE}", "-CFLAGS", cflags, *LINT_OFF, *extra_flags,
               *map(str, sources), *shell, str(testbench)]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=work)
        if result.returncode == 0:
            result = _make(work / "obj", jobs, Path(cache_dir))
        if result.returncode != 0 or not (work / EXE).is_file():
            raise ToolFailed(f"Verilator could not build {sources[-1].name if sources else 'the design'}:\n"
                           + _first_errors(result.stderr + result.stdout))
        shutil.rmtree(work / "obj", ignore_errors=True)
        try:
            os.rename(work, target)
        except OSError:  # built meanwhile by someone else: theirs is as good
            pass
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return target / EXE


class RunResult(NamedTuple):
    words: np.ndarray        # (n_out, chunks) uint32
    cycles: np.ndarray       # (n_out,) uint64: the cycle each output word was taken
    stdout: str              # what the design printed ($display, final blocks)


def run(exe: Path, words_in: np.ndarray, n_out: int, out_width: int, workdir: Path, stall: float = 0.0,
        seed: int = 0, axi_writes: np.ndarray | None = None, pace: tuple[int, int] | None = None,
        timeout: float = 3600, plusargs: tuple[str, ...] = ()) -> RunResult:
    """Stream ``words_in`` through the testbench (``pace``: (words, cycles) per frame at most;
    ``plusargs``: ``+name=value`` arguments for the design's ``$value$plusargs``)."""
    workdir, exe = Path(workdir).resolve(), Path(exe).resolve()
    files = {name: workdir / f"tb_{name}.bin" for name in ("in", "out", "cycles", "axi")}
    np.ascontiguousarray(words_in, dtype="<u4").tofile(files["in"])
    args = [str(exe), str(files["in"]), str(len(words_in)), str(files["out"]), str(n_out), str(files["cycles"]),
            str(int(round(stall * 1000))), str(seed)]
    if axi_writes is not None and len(axi_writes):
        np.ascontiguousarray(axi_writes, dtype="<u4").tofile(files["axi"])
        args.append(str(files["axi"]))
    else:
        args.append("-")
    if pace is not None:
        args += [str(int(pace[0])), str(int(pace[1]))]
    args += list(plusargs)
    try:
        result = subprocess.run(args, capture_output=True, text=True, cwd=workdir, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ToolFailed(f"Verilator simulation in {workdir} ran over {timeout:.0f} s") from None
    if result.returncode != 0:
        raise ToolFailed(f"Verilator simulation in {workdir} failed (status {result.returncode}): "
                       + (result.stderr.strip() or result.stdout.strip())[:800])
    out = np.fromfile(files["out"], dtype="<u4").reshape(n_out, chunks(out_width))
    cycles = np.fromfile(files["cycles"], dtype="<u8")
    return RunResult(out, cycles, result.stdout)
