"""A copy of the checkout as a fresh clone has it, for the tests that run bnn2hw as a user would
(the wheel test, the README test): sources only, no venv, outputs or caches; and an environment
without the developer's PYTHONPATH or active venv."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOP_LEVEL_NOT_SOURCES = {".git", ".venv", ".deps", "build", "runs", "deploy", ".pytest_cache"}


def _not_sources(directory: str, names: list[str]) -> set[str]:
    """Top-level outputs (not bnn2hw/deploy!) and caches anywhere."""
    top = Path(directory).resolve() == REPO
    return {n for n in names if (top and n in TOP_LEVEL_NOT_SOURCES) or n == "__pycache__" or n.endswith(".egg-info")}


def copy_checkout(dest: Path) -> Path:
    shutil.copytree(REPO, dest, ignore=_not_sources)
    return dest


def user_env() -> dict:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
