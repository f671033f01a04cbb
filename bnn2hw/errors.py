"""Errors every stage may raise, and the exit status the command line gives each kind.

Contract: imports nothing from bnn2hw, so data, train, compile, hw, sim and deploy may all use it.

* ``CheckFailed``: a check that ran to the end and failed (mismatches between two rungs of the
  verification ladder, overflows, a rate the board cannot reach). Exit status 1.
* ``OutputDirError``: an output directory the command refuses to write (a file, not writable,
  holding a previous run or build without ``--force``, locked by another bnn2hw process). It is
  a refused input: exit status 2, like every stage's own error (``DatasetError``,
  ``CheckpointError``, ``CompileError``, ``HwError``, ``SimError``, ``DeployError``).
* A tool bnn2hw runs that is missing or failed (``bnn2hw.eda.ToolFailed``: Verilator, g++, Yosys,
  nextpnr): exit status 3, so scripts can tell a broken installation from a bad option.
"""

from __future__ import annotations

EXIT_OK, EXIT_CHECK_FAILED, EXIT_REFUSED, EXIT_TOOL_FAILED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class CheckFailed(Exception):
    """A check ran and failed; the message says which, by how much, and where the report is."""


class OutputDirError(ValueError):
    """An output directory that must not be written; the message names it and says why."""
