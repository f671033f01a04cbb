"""Board files: complete, cited, and consistent with FINN's own part and resource tables."""

from __future__ import annotations

import pytest

from bnn2hw.hw import HwError, build
from bnn2hw.boards import BOARDS, RESOURCE_KINDS, UnknownBoard, load_board


@pytest.mark.parametrize("name", list(BOARDS))
def test_board_loads_with_sources(name):
    board = load_board(name)
    assert board.name == name and board.clock_mhz > 0
    assert all(getattr(board.resources, kind) >= 0 for kind in RESOURCE_KINDS)
    sources = dict(board.sources)
    assert {"part", "resources", "clock_mhz"} <= set(sources)
    assert any(sheet in sources["resources"] for sheet in ("DS190", "DS891", "DS987"))


@pytest.mark.parametrize("name", list(BOARDS))
def test_part_matches_finn_part_map(name):
    from finn.util.basic import pynq_part_map
    board = load_board(name)
    assert pynq_part_map[board.finn_board] == board.part


# FINN's floorplanning tables (finn.util.platforms) round some figures; the datasheet wins, FINN must agree
# within 5%, and exactly for the Zynq-7020 and for DSP counts.
FINN_PLATFORM = {"pynq-z1": "Pynq-Z1", "pynq-z2": "Pynq-Z2", "ultra96-v2": "Ultra96", "zcu104": "ZCU104"}


@pytest.mark.parametrize("name", list(FINN_PLATFORM))
def test_resources_match_finn_platform_tables(name):
    from finn.util.platforms import platforms
    board = load_board(name)
    finn_figures = dict(zip(RESOURCE_KINDS, platforms[FINN_PLATFORM[name]]().compute_resources[0]))
    ours = board.resources.as_dict()
    for kind in RESOURCE_KINDS:
        assert ours[kind] == pytest.approx(finn_figures[kind], rel=0.05, abs=0), kind
    assert ours["DSP"] == finn_figures["DSP"]
    if board.part.startswith("xc7z020"):
        assert ours == finn_figures


def test_unknown_board_lists_known_ones(tmp_path):
    with pytest.raises(UnknownBoard, match="known boards: pynq-z1, pynq-z2, ultra96-v2, zcu104, kv260"):
        load_board("de10-nano")
    (tmp_path / "model.onnx").write_text("")
    with pytest.raises(HwError, match="known boards"):
        build(tmp_path, board="nope", log=lambda _: None)


def test_user_board_file(tmp_path):
    text = BOARDS["pynq-z2"].read_text().replace("name: pynq-z2", "name: my-z2").replace("clock_mhz: 100", "clock_mhz: 125")
    path = tmp_path / "my.yaml"
    path.write_text(text)
    board = load_board(path)
    assert (board.name, board.clock_mhz, board.clock_ns) == ("my-z2", 125.0, 8.0)
    path.write_text(text.replace("  resources: ", "  nothing: "))
    with pytest.raises(UnknownBoard, match="no source cited for resources"):
        load_board(path)


def test_every_known_board_has_a_clock_limit_above_its_default_clock():
    from bnn2hw.boards import ECP5_BOARDS
    for name in [*BOARDS, *ECP5_BOARDS]:
        board = load_board(name)
        assert board.clock_mhz < board.max_clock_mhz < float("inf"), name


def test_a_clock_beyond_the_family_is_refused_before_any_work(tmp_path, capsys):
    from bnn2hw.cli import main
    (tmp_path / "model.onnx").write_text("never read")
    assert main(["build", str(tmp_path), "--clock-mhz", "1e9"]) == 2
    err = capsys.readouterr().err
    assert "--clock-mhz 1e+09" in err and "628 MHz" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]
