"""``run_build`` and ``bnn2hw build`` hand the build stage one ``BuildConfig``; the posterior
samples' builds derive theirs from it. FINN is replaced by a recorder: only the configs are checked."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import pytest

from bnn2hw import pipeline
from bnn2hw.cli import building as cli_building
from bnn2hw.cli import main
from bnn2hw.errors import OutputDirError
from bnn2hw.hw import BuildConfig
from bnn2hw.hw.config import Impl, Output


@pytest.fixture
def recorded(tmp_path, monkeypatch):
    """A build directory with two compiled samples; ``build_hw`` records (directory, config)."""
    for k in ("0", "1"):
        (tmp_path / "samples" / k).mkdir(parents=True)
    calls = []

    def build_hw(build_dir, config, log):
        calls.append((build_dir, config))
        return {"hw_dir": str(build_dir / "hw")}

    monkeypatch.setattr(pipeline.building, "build_hw", build_hw)
    monkeypatch.setattr(cli_building, "print_build", lambda summary: None)
    return tmp_path, calls


def test_samples_are_built_at_the_modes_folding_and_checked_on_its_data(recorded):
    root, calls = recorded
    config = BuildConfig(board="pynq-z1", fps=5000, clock_mhz=80, verify_limit=3, runtime_weights=True,
                         impl="rtl", data_dir="/data", output="scores")
    summary = pipeline.run_build(root, config, log=lambda _: None)
    assert [d for d, _ in calls] == [root, root / "samples" / "0", root / "samples" / "1"]
    assert calls[0][1] == config
    sample = replace(config, folding=str(root / "hw" / "folding.json"), fps=None)  # same data set as the mode
    assert [c for _, c in calls[1:]] == [sample, sample] and len(summary["samples"]) == 2


def test_build_command_gives_its_options_to_one_config(recorded):
    root, calls = recorded
    assert main(["build", str(root), "--board", "pynq-z1", "--fps", "5000", "--clock-mhz", "80", "--verify-limit",
                 "3", "--runtime-weights", "--impl", "rtl", "--baud", "9600", "--data-dir", "/data",
                 "--ignore-estimates", "--output", "scores"]) == 0
    assert calls[0][1] == BuildConfig(board="pynq-z1", fps=5000.0, clock_mhz=80.0, verify_limit=3,
                                      runtime_weights=True, impl=Impl.RTL, baud=9600, data_dir="/data",
                                      ignore_estimates=True, output=Output.SCORES)


@pytest.mark.parametrize("argv, needle", [(["--dataset", "digits"], "--model FILE.onnx"),
                                          (["--baud", "0"], "--baud"), (["--verify-limit", "-1"], "--verify-limit"),
                                          (["--ignore-estimates"], "--fps")])
def test_bad_build_options_are_one_line(recorded, capsys, argv, needle):
    root, calls = recorded
    assert main(["build", str(root)] + argv) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1 and not calls


def test_model_option_imports_first_with_the_builds_data_dir_and_limit(recorded, monkeypatch):
    root, calls = recorded
    imports = []
    monkeypatch.setattr(pipeline.building, "run_import", lambda *args: imports.append(args))
    assert main(["build", str(root), "--model", "x.onnx", "--input-scale", "1/255", "--dataset", "digits",
                 "--data-dir", "/data", "--verify-limit", "5", "--force"]) == 0
    assert imports == [(root, "x.onnx", "1/255", "digits", "/data", 5, True, print)] and len(calls) == 3


def test_an_accelerator_in_hw_is_replaced_only_with_force_and_its_reports_go_with_it(recorded, capsys):
    root, calls = recorded
    (root / "hw").mkdir()
    (root / "hw" / "estimates.json").write_text('{"impl": "hls", "board": "pynq-z2"}')
    for report in ("sim.json", "rtlsim.json", "samples/0/sim.json"):
        (root / report).write_text("{}")
    assert main(["build", str(root), "--impl", "rtl"]) == 2
    err = capsys.readouterr().err
    assert "hls build for pynq-z2" in err and "--force" in err and not calls
    assert main(["build", str(root), "--impl", "rtl", "--force"]) == 0 and len(calls) == 3
    assert not any((root / r).exists() for r in ("sim.json", "rtlsim.json", "samples/0/sim.json"))


def test_an_import_of_another_file_is_replaced_only_with_force(tmp_path):
    (tmp_path / "a.onnx").write_bytes(b"model a")
    (tmp_path / "b.onnx").write_bytes(b"model b")
    build = tmp_path / "build"
    build.mkdir()
    (build / "import.json").write_text(json.dumps({"source": str(tmp_path / "a.onnx"),
                                                   "sha256": hashlib.sha256(b"model a").hexdigest()}))
    pipeline.building.refuse_other_import(build / "import.json", tmp_path / "a.onnx")  # the same file: fine
    with pytest.raises(OutputDirError, match="imported from .*a.onnx, not .*b.onnx; --force"):
        pipeline.building.refuse_other_import(build / "import.json", tmp_path / "b.onnx")
