"""Finding cppsim's dependencies (finn-hlslib, the open ap types) and bnn2hw's Vitis shims."""

from __future__ import annotations

import subprocess

import pytest

from bnn2hw import cli
from bnn2hw.eda import cppsim_deps
from bnn2hw.eda.cppsim_deps import EdaError, find_deps


def fake_checkout(path, marker: str):
    path.mkdir(parents=True)
    (path / marker).write_text("// stand-in\n")
    return path


@pytest.fixture
def no_default_deps(tmp_path, monkeypatch):
    monkeypatch.setattr(cppsim_deps, "DEPS_DIR", tmp_path / "no-deps")
    monkeypatch.setattr(cppsim_deps, "CONFIG_FILE", tmp_path / "no-config.toml")


def test_missing_hlslib_says_how_to_get_it(no_default_deps):
    with pytest.raises(EdaError, match="finn-hlslib not found") as info:
        find_deps()
    assert "setup_venv.sh" in str(info.value) and "--hlslib" in str(info.value)


def test_hlslib_from_the_option_then_the_config_file(tmp_path, no_default_deps):
    option = fake_checkout(tmp_path / "option", "bnn-library.h")
    configured = fake_checkout(tmp_path / "configured", "bnn-library.h")
    ap_types = fake_checkout(tmp_path / "ap", "ap_int.h")
    config = tmp_path / "config.toml"
    config.write_text(f'[cppsim]\nhlslib = "{configured}"\nap_types = "{ap_types}"\n')
    assert find_deps(option, config) == cppsim_deps.CppsimDeps(option, ap_types)
    assert find_deps(None, config) == cppsim_deps.CppsimDeps(configured, ap_types)


def test_a_directory_without_finn_hlslib_is_refused(tmp_path):
    with pytest.raises(EdaError, match="has no bnn-library.h"):
        find_deps(tmp_path)


def test_cli_without_hlslib_exits_2_with_the_message(tmp_path, capsys):
    (tmp_path / "hw").mkdir()
    assert cli.main(["simulate", str(tmp_path), "--cppsim", "--hlslib", str(tmp_path / "none"),
                     "--dataset", "digits"]) == 2
    err = capsys.readouterr().err
    assert "bnn-library.h" in err and "Traceback" not in err


SHIM_USER = r"""
#include <ap_int.h>
#include <hls_vector.h>
#include <ap_axi_sdata.h>
#include <cstdio>
static_assert(ap_int<5>::sign_flag && !ap_uint<5>::sign_flag, "sign_flag");
int main() {
  hls::vector<ap_uint<3>, 4> v(ap_uint<3>(5));
  qdma_axis<16, 0, 0, 0> beat;
  beat.set_data(0xBEEF); beat.set_last(1);
  union { unsigned short i; half h; } bits = {.i = 0x3C00};  // binary16 1.0
  ap_int<7> x = -3;
  std::printf("%d %d %x %d %g %d\n", int(v[3]), int(v.size()), unsigned(beat.get_data()), int(beat.get_last()),
              double(bits.h), int(x));
  return 0;
}
"""


def test_shims_give_what_finn_hlslib_takes_from_vitis(tmp_path):
    try:  # the ap types alone (the setup unpacks them from PyPI): no finn-hlslib needed
        deps = cppsim_deps.CppsimDeps(tmp_path, cppsim_deps.find_ap_types())
    except EdaError as err:
        pytest.skip(str(err))
    source = tmp_path / "shims.cpp"
    source.write_text(SHIM_USER)
    env = cppsim_deps.compile_environment(deps, cppsim_deps.vitis_stand_in(tmp_path / "cache"), tmp_path)
    include = f"{env['XILINX_HLS']}/include"
    build = subprocess.run(["g++", "-std=c++17", f"-I{include}", "-o", str(tmp_path / "shims"), str(source)],
                           capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "CPATH": env["CPATH"]})
    assert build.returncode == 0, build.stderr[-2000:]
    out = subprocess.run([str(tmp_path / "shims")], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["5", "4", "beef", "1", "1", "-3"]
