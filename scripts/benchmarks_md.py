"""Writes one benchmark's section into BENCHMARKS.md, between its own markers.

Contract: ``write_section(key, title, text)`` replaces the text between
``<!-- KEY:start -->`` and ``<!-- KEY:end -->``, or appends ``## title`` and a new marked
block; other sections are left as they are.
"""

from __future__ import annotations

from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"


def write_section(key: str, title: str, text: str, path: Path = BENCHMARKS) -> None:
    start, end = f"<!-- {key}:start -->", f"<!-- {key}:end -->"
    body = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{start}\n{text.rstrip()}\n{end}"
    if start in body and end in body:
        body = body[:body.index(start)] + block + body[body.index(end) + len(end):]
    else:
        body = body.rstrip() + f"\n\n## {title}\n\n{block}\n"
    path.write_text(body)
