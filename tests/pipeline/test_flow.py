"""``bnn2hw flow``'s options reach the stages: what is trained, built and ensembled; bad ones are refused
before training. The stages are replaced by recorders (the real flow runs in tests/notebooks)."""

from __future__ import annotations

import pytest

from bnn2hw import cli, pipeline
from bnn2hw.hw.config import Impl
from bnn2hw.pipeline import flow


@pytest.fixture
def recorded(monkeypatch):
    calls = {}

    def record(name, result=None):
        def stage(*args, **kwargs):
            calls[name] = (args, kwargs)
            return result if result is not None else {}
        return stage
    monkeypatch.setattr(flow, "run_train", record("train"))
    monkeypatch.setattr(flow, "run_compile", record("compile", {"label_mismatches": 0, "value_mismatches": 0}))
    monkeypatch.setattr(flow, "check_compile", lambda _: None)
    monkeypatch.setattr(flow, "run_build", record("build"))
    monkeypatch.setattr(flow, "run_simulate", record("simulate"))
    monkeypatch.setattr(flow, "check_simulation", lambda _: None)
    monkeypatch.setattr(flow, "run_rtlsim", record("rtlsim"))
    monkeypatch.setattr(flow, "check_rtlsim", lambda _: None)
    monkeypatch.setattr(flow, "run_shellsim", record("shellsim"))
    monkeypatch.setattr(flow, "check_shellsim", lambda _: None)
    monkeypatch.setattr(flow, "run_deploy", record("deploy"))
    monkeypatch.setattr(flow.shutil, "which", lambda _name: "/usr/bin/verilator")
    return calls


def test_defaults_are_make_demos(recorded, tmp_path):
    pipeline.run_flow(tmp_path, log=lambda _: None)
    options = recorded["train"][0][1]
    assert (options["model"], options["dataset"], options["method"], options["epochs"]) == ("tfc", "digits",
                                                                                           "bayesbinn", 20)
    build = recorded["build"][0][1]
    assert build.board == "pynq-z2" and build.fps == 100_000 and build.impl == Impl.RTL and build.runtime_weights
    assert recorded["compile"][1]["samples"] == 3 and recorded["deploy"][1]["ensemble"] == 3
    assert "shellsim" not in recorded


def test_options_reach_the_stages(recorded, tmp_path):
    config = pipeline.FlowConfig(model="sfc", dataset="fashion-mnist", method="ste", board="pynq-z1", impl="hls",
                                 fps=None, epochs=2, data_dir="/data")
    pipeline.run_flow(tmp_path, config, log=lambda _: None)
    options = recorded["train"][0][1]
    assert (options["model"], options["method"], options["epochs"], options["data_dir"]) == ("sfc", "ste", 2, "/data")
    build = recorded["build"][0][1]
    assert build.board == "pynq-z1" and build.fps is None and build.impl == Impl.HLS and not build.runtime_weights
    assert recorded["compile"][1]["samples"] == 0 and "rtlsim" not in recorded  # STE: no posterior; HLS: no RTL


def test_an_ecp5_flow_ends_in_the_uart_shell_and_package(recorded, tmp_path):
    pipeline.run_flow(tmp_path, pipeline.FlowConfig(board="ulx3s-85f"), log=lambda _: None)
    assert recorded["build"][0][1].board == "ulx3s-85f" and not recorded["build"][0][1].runtime_weights
    assert "shellsim" in recorded and recorded["deploy"][1]["ensemble"] is None


@pytest.mark.parametrize("argv, needle", [(["--board", "ulx3s-85f", "--samples", "2"], "--samples 2"),
                                          (["--board", "nope"], "nope"), (["--impl", "rtl", "--samples", "-1"],
                                                                         "--samples")])
def test_bad_options_are_refused_before_training(recorded, tmp_path, capsys, argv, needle):
    assert cli.main(["flow", "--out", str(tmp_path / "o"), *argv]) == 2
    assert needle in capsys.readouterr().err and "train" not in recorded
