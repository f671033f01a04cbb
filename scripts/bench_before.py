"""Before/after benchmarks: one measurement run on an earlier revision of bnn2hw and on this one.

Contract: ``revision_tree(rev, out)`` extracts revision ``rev`` of this repository (``git
archive``; no checkout is touched) into ``out/before-<short sha>/`` once and returns (path, short
sha). ``run_in(tree, script, args, timeout_s)`` runs ``python SCRIPT --repo TREE ARGS`` in this
interpreter (the bench script puts ``TREE`` first on ``sys.path``, so it measures that
revision's ``bnn2hw`` and RTL) and returns the JSON object the run wrote to ``--json``; a failed
run raises ``RuntimeError`` with the last lines of its output. ``use_repo(argv)`` is what a bench
script calls first: the ``--repo`` it was given (default: this checkout) goes first on
``sys.path``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def use_repo(argv: list[str]) -> Path:
    repo = Path(argv[argv.index("--repo") + 1]).resolve() if "--repo" in argv else ROOT
    sys.path.insert(0, str(repo))
    return repo


def revision_tree(rev: str, out: Path) -> tuple[Path, str]:
    sha = subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip()
    tree = Path(out) / f"before-{sha}"
    if not (tree / "bnn2hw").is_dir():
        tree.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile() as tar:
            subprocess.run(["git", "archive", "--format=tar", sha], cwd=ROOT, stdout=tar, check=True)
            tar.seek(0)
            with tarfile.open(fileobj=tar) as archive:
                archive.extractall(tree, filter="data")
    return tree, sha


def run_in(tree: Path, script: Path, args: list[str], timeout_s: float = 7200) -> dict:
    with tempfile.TemporaryDirectory(prefix="bnn2hw-bench-") as tmp:
        result_file = Path(tmp) / "result.json"
        run = subprocess.run([sys.executable, str(script), "--repo", str(tree), *args, "--json", str(result_file)],
                             cwd=tree, capture_output=True, text=True, timeout=timeout_s, check=False)
        if run.returncode != 0 or not result_file.is_file():
            tail = "\n".join((run.stdout + run.stderr).strip().splitlines()[-15:])
            raise RuntimeError(f"{script.name} on {tree.name} failed (status {run.returncode}):\n{tail}")
        return json.loads(result_file.read_text())
