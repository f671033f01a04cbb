"""The wheel a user installs works away from the checkout: board files and RTL sources ship inside it.

Builds the wheel with ``pip wheel``, installs it (no dependencies) into a fresh venv that sees the
dev venv's packages through a ``.pth`` line (the heavy dependencies, not the editable bnn2hw), and
from another directory loads a board and runs an ``--impl rtl`` build with relative paths.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.checkout import REPO, copy_checkout, user_env


MAKE_MODEL = """
import json
from bnn2hw.boards import load_board
from bnn2hw.hw.random_net import random_model_onnx
import bnn2hw.assets
print(load_board("pynq-z2").part, bnn2hw.assets.hw_sources_dir())
random_model_onnx("build/t/model.onnx", "mlp:16", 1, (1, 8, 8), 10, 0)
open("build/t/verify.json", "w").write(json.dumps({"dataset": "digits", "label_mismatches": 0}))
"""



# Not copied: what a build in the checkout would pick up stale (setuptools' build/lib) or never ships.
@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out, source = tmp_path_factory.mktemp("wheel"), tmp_path_factory.mktemp("src") / "bnn2hw"
    copy_checkout(source)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(source)], check=True, env=user_env(), capture_output=True)
    return next(out.glob("bnn2hw-*.whl"))


def test_the_wheel_carries_boards_and_hardware_sources(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in ("bnn2hw/assets/boards/pynq-z2.yaml", "bnn2hw/assets/boards/ulx3s-85f.yaml",
                 "bnn2hw/assets/hw/rtl/bnn2hw_mvau.sv", "bnn2hw/assets/hw/tb/axis_tb.cpp",
                 "bnn2hw/assets/hw/shell/ulx3s.lpf", "bnn2hw/assets/hw/hls_shims/hls_vector.h"):
        assert path in names, path
    shipped = {n.split("assets/", 1)[1] for n in names if n.startswith("bnn2hw/assets/") and not n.endswith(".py")}
    in_repo = {str(p.relative_to(REPO)) for d in ("hw", "boards") for p in (REPO / d).rglob("*") if p.is_file()}
    assert shipped == in_repo


@pytest.mark.skipif(shutil.which("verilator") is None, reason="Verilator not installed (apt-get install verilator)")
def test_installed_wheel_loads_a_board_and_builds_rtl_from_another_directory(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv)}))
    (site / "dev-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")  # torch, finn, ...; not the editable bnn2hw
    env = user_env()
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-deps",
                    "-q", str(wheel)], check=True, env=env, capture_output=True)
    user = tmp_path / "user"
    (user / "build" / "t").mkdir(parents=True)
    py = str(venv / "bin" / "python")
    made = subprocess.run([py, "-c", MAKE_MODEL], cwd=user, env=env, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    assert str(venv) in made.stdout and str(REPO) not in made.stdout  # the shipped hw/, not the checkout's
    built = subprocess.run([py, "-m", "bnn2hw.cli", "build", "build/t", "--impl", "rtl", "--fps", "100000",
                            "--verify-limit", "20"], cwd=user, env=env, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-2000:]
    manifest = json.loads((user / "build" / "t" / "hw" / "rtl" / "manifest.json").read_text())
    assert (user / "build" / "t" / "hw" / "rtl" / "accelerator.sv").is_file() and manifest["nodes"]
