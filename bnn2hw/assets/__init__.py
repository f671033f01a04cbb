"""Where bnn2hw's non-Python files are: the hardware sources (``hw/``) and the board files (``boards/``).

Contract: ``hw_sources_dir()`` and ``boards_dir()`` return existing directories, in this order of lookup:

1. a source checkout (this package sits in a directory holding ``pyproject.toml``): its top-level
   ``hw/`` and ``boards/``, so edits in the repository are seen at once (editable installs too);
2. an installed wheel: the same trees shipped as package data under ``bnn2hw/assets/``
   (``pyproject.toml`` maps ``bnn2hw.assets.hw`` to ``hw`` and ``bnn2hw.assets.boards`` to
   ``boards``), found through ``importlib.resources``.

Neither found is an installation error (``FileNotFoundError`` naming both places), not a user's.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[2]


def _asset_dir(name: str) -> Path:
    checkout = _CHECKOUT / name
    if (_CHECKOUT / "pyproject.toml").is_file() and checkout.is_dir():
        return checkout
    shipped = Path(str(resources.files(__package__).joinpath(name)))
    if shipped.is_dir():
        return shipped
    raise FileNotFoundError(f"bnn2hw's {name}/ directory is missing: neither {checkout} (a source checkout) "
                            f"nor {shipped} (an installed wheel) exists; reinstall bnn2hw")


def hw_sources_dir() -> Path:
    """``hw/``: ``rtl/`` (layers), ``shell/`` (UART shell), ``tb/`` (testbenches), ``hls_shims/``, ``formal/``."""
    return _asset_dir("hw")


def boards_dir() -> Path:
    """``boards/``: one YAML file per board."""
    return _asset_dir("boards")
