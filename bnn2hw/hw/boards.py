"""Boards bnn2hw builds for: one YAML file per board in ``boards/``, loaded into a frozen ``Board``.

Contract: ``BOARDS`` maps each known board name to its YAML file (an explicit registry);
``load_board(name)`` returns the ``Board`` or raises ``UnknownBoard`` listing the known names;
``load_board`` also accepts a path to a user's own YAML file of the same shape. A board file
holds ``name``, ``description``, ``finn_board`` (FINN's board key), ``part``, ``clock_mhz`` and
``resources`` (LUT, FF, BRAM18, URAM, DSP: the part's whole programmable logic), and a
``sources`` map citing where each figure comes from. Imports no FINN.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

BOARDS_DIR = Path(__file__).resolve().parents[2] / "boards"
BOARDS: dict[str, Path] = {name: BOARDS_DIR / f"{name}.yaml"
                           for name in ("pynq-z1", "pynq-z2", "ultra96-v2", "zcu104", "kv260")}
RESOURCE_KINDS = ("LUT", "FF", "BRAM18", "URAM", "DSP")
REQUIRED_SOURCES = ("part", "resources", "clock_mhz")


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
class Board:
    name: str
    description: str
    finn_board: str
    part: str
    clock_mhz: float
    resources: Resources
    sources: tuple[tuple[str, str], ...]

    @property
    def clock_ns(self) -> float:
        return 1000.0 / self.clock_mhz


def _parse(data: dict, origin: Path) -> Board:
    try:
        res = data["resources"]
        resources = Resources(**{kind: int(res[kind]) for kind in RESOURCE_KINDS})
        sources = data.get("sources") or {}
        missing = [key for key in REQUIRED_SOURCES if not sources.get(key)]
        if missing:
            raise ValueError(f"no source cited for {', '.join(missing)}")
        board = Board(name=str(data["name"]), description=str(data.get("description", "")),
                      finn_board=str(data["finn_board"]), part=str(data["part"]),
                      clock_mhz=float(data["clock_mhz"]), resources=resources,
                      sources=tuple((str(k), str(v)) for k, v in sources.items()))
    except (KeyError, TypeError, ValueError) as err:
        raise UnknownBoard(f"{origin}: not a valid board file ({err!r})") from None
    if board.clock_mhz <= 0:
        raise UnknownBoard(f"{origin}: clock_mhz must be positive")
    return board


def load_board(name_or_path: str | Path) -> Board:
    """The board called ``name_or_path`` (see ``BOARDS``), or the board YAML file at that path."""
    key = str(name_or_path).lower()
    path = BOARDS.get(key)
    if path is None:
        candidate = Path(name_or_path)
        if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
            path = candidate
        else:
            raise UnknownBoard(f"unknown board {str(name_or_path)!r}; known boards: {', '.join(BOARDS)}"
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
    return list(BOARDS)
