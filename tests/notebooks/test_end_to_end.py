"""notebooks/end_to_end.ipynb runs from top to bottom (its cells assert 0 mismatches)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "end_to_end.ipynb"


def test_end_to_end_notebook_executes(tmp_path, monkeypatch):
    monkeypatch.setenv("BNN2HW_NOTEBOOK_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parents[1])}}).execute()
    outputs = "".join(o.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                      for o in cell.get("outputs", []))
    assert "0 label / 0 score mismatches" in outputs
    assert (tmp_path / "out" / "deploy" / "driver.py").is_file()
