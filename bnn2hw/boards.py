"""Boards bnn2hw builds for: one YAML file per board in ``boards/``, loaded into a frozen ``Board``.

At the top of the package (not in ``hw``) because both ``bnn2hw.hw`` (folding, estimates) and
``bnn2hw.eda`` (the ECP5 flow) read it; ``boards/`` is found by ``bnn2hw.assets``.

Contract: ``BOARDS`` maps each known board name to its YAML file (an explicit registry);
``load_board(name)`` returns the ``Board`` or raises ``UnknownBoard`` listing the known names;
``load_board`` also accepts a path to a user's own YAML file of the same shape. A board file
holds ``name``, ``description``, ``finn_board`` (FINN's board key), ``part``, ``clock_mhz`` and
``resources`` (LUT, FF, BRAM18, URAM, DSP: the part's whole programmable logic), and a
``sources`` map citing where each figure comes from. Imports no FINN.

Lattice ECP5 boards (``ECP5_BOARDS``, built into bitstreams with open tools by
``bnn2hw.eda.ecp5``) add ``family: ecp5`` and an ``Ecp5`` record: ``package`` (nextpnr's
name, e.g. CABGA381), ``clock_pin``, ``uart_rx`` / ``uart_tx`` (FPGA side), ``leds``, ``lpf``
(pin constraints of the UART shell, relative to the repository root) and ``fabric`` (LUT4, FF,
DP16KD, MULT18: the ECP5's own totals, which post-synthesis and post-P&R counts are checked
against); ``finn_board`` may be empty and ``finn_part`` names the Xilinx part FINN's estimates
use. Their ``resources`` hold the same totals in FINN's kinds (LUT = LUT4) for folding.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from bnn2hw.assets import boards_dir

BOARDS_DIR = boards_dir()
BOARDS: dict[str, Path] = {name: BOARDS_DIR / f"{name}.yaml"
                           for name in ("pynq-z1", "pynq-z2", "ultra96-v2", "zcu104", "kv260")}
ECP5_BOARDS: dict[str, Path] = {name: BOARDS_DIR / f"{name}.yaml" for name in ("ulx3s-85f", "ulx3s-12f")}
RESOURCE_KINDS = ("LUT", "FF", "BRAM18", "URAM", "DSP")
ECP5_FABRIC_KINDS = ("LUT4", "FF", "DP16KD", "MULT18")
REQUIRED_SOURCES = ("part", "resources", "clock_mhz")
# The fastest clock any design of a family can be given: its global clock network's limit at the
# fastest speed grade (AMD DS187 Zynq-7000 BUFGCTRL, DS925 Zynq UltraScale+ BUFGCE, Lattice
# FPGA-DS-02012 ECP5 primary clock). Real designs close timing far below it; a request above it is
# a typo (MHz for Hz), refused before any work. Keyed by the part's prefix.
CLOCK_LIMIT_MHZ = {"xc7z": 628.0, "xczu": 891.0, "xck26": 891.0, "lfe5": 400.0}


class UnknownBoard(ValueError):
    """A board name that is neither in ``BOARDS`` nor a readable board YAML file."""


@dataclass(frozen=True)
class Resources:
    """Counts of the FPGA resources bnn2hw budgets (BRAM in 18 Kb halves, as FINN counts)."""

    LUT: int
    FF: int
    BRAM18: int
    URAM: int
    DSP: int

    def as_dict(self) -> dict[str, int]:
        return {kind: getattr(self, kind) for kind in RESOURCE_KINDS}


@dataclass(frozen=True)
class Ecp5:
    """An ECP5 board's package, pins and fabric totals (see the module docstring)."""

    package: str
    clock_pin: str
    uart_rx: str
    uart_tx: str
    leds: tuple[str, ...]
    lpf: str
    fabric: tuple[tuple[str, int], ...]

    def fabric_dict(self) -> dict[str, int]:
        return dict(self.fabric)


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    finn_board: str
    part: str
    clock_mhz: float
    resources: Resources
    sources: tuple[tuple[str, str], ...]
    family: str = "xilinx"
    finn_part: str = ""
    ecp5: Ecp5 | None = None

    @property
    def clock_ns(self) -> float:
        return 1000.0 / self.clock_mhz

    @property
    def max_clock_mhz(self) -> float:
        """The family's clock-network limit (``CLOCK_LIMIT_MHZ``); inf for a part bnn2hw does not know."""
        part = self.part.lower()
        return next((mhz for prefix, mhz in CLOCK_LIMIT_MHZ.items() if part.startswith(prefix)), float("inf"))

    @property
    def fpga_part(self) -> str:
        """The Xilinx part FINN's steps and estimates use (an ECP5 board names a proxy part)."""
        return self.finn_part or self.part


def _parse_ecp5(data: dict) -> Ecp5:
    fabric = data["fabric"]
    return Ecp5(package=str(data["package"]), clock_pin=str(data["clock_pin"]), uart_rx=str(data["uart_rx"]),
                uart_tx=str(data["uart_tx"]), leds=tuple(str(pin) for pin in data.get("leds") or ()),
                lpf=str(data["lpf"]), fabric=tuple((kind, int(fabric[kind])) for kind in ECP5_FABRIC_KINDS))


def _parse(data: dict, origin: Path) -> Board:
    try:
        res = data["resources"]
        resources = Resources(**{kind: int(res[kind]) for kind in RESOURCE_KINDS})
        sources = data.get("sources") or {}
        missing = [key for key in REQUIRED_SOURCES if not sources.get(key)]
        if missing:
            raise ValueError(f"no source cited for {', '.join(missing)}")
        family = str(data.get("family", "xilinx")).lower()
        if family not in ("xilinx", "ecp5"):
            raise ValueError(f"family {family!r}: bnn2hw knows xilinx and ecp5")
        board = Board(name=str(data["name"]), description=str(data.get("description", "")),
                      finn_board=str(data["finn_board"] if family == "xilinx" else data.get("finn_board") or ""),
                      part=str(data["part"]), clock_mhz=float(data["clock_mhz"]), resources=resources,
                      sources=tuple((str(k), str(v)) for k, v in sources.items()), family=family,
                      finn_part=str(data.get("finn_part") or ""),
                      ecp5=_parse_ecp5(data) if family == "ecp5" else None)
    except (KeyError, TypeError, ValueError) as err:
        raise UnknownBoard(f"{origin}: not a valid board file ({err!r})") from None
    if board.clock_mhz <= 0:
        raise UnknownBoard(f"{origin}: clock_mhz must be positive")
    return board


def load_board(name_or_path: str | Path) -> Board:
    """The board called ``name_or_path`` (see ``BOARDS``), or the board YAML file at that path."""
    key = str(name_or_path).lower()
    path = BOARDS.get(key) or ECP5_BOARDS.get(key)
    if path is None:
        candidate = Path(name_or_path)
        if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
            path = candidate
        else:
            raise UnknownBoard(f"unknown board {str(name_or_path)!r}; known boards: {', '.join(known_boards())}"
                               " (or a path to a board .yaml file)")
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise UnknownBoard(f"{path}: not a readable board YAML file ({' '.join(str(err).split())})") from None
    if not isinstance(data, dict):
        raise UnknownBoard(f"{path}: not a valid board file (a YAML mapping of name, part, clock_mhz, "
                           f"resources, ...; found {type(data).__name__})")
    return _parse(data, path)


def known_boards() -> list[str]:
    """Every board name: the Zynq boards FINN knows (``BOARDS``), then the ECP5 boards."""
    return [*BOARDS, *ECP5_BOARDS]
