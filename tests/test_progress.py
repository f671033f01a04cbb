"""Progress off a terminal: whole lines, a few of them, the last at 100 %; nothing when disabled."""

from __future__ import annotations

import io

from bnn2hw import progress as progress_module
from bnn2hw.progress import progress


def test_off_a_terminal_progress_prints_few_whole_lines(monkeypatch):
    clock = iter(range(0, 10_000, 7))  # 7 s per step
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: next(clock))
    stream = io.StringIO()
    bar = progress(range(20), "epoch 1/3", stream=stream)
    for i in bar:
        bar.report(loss=f"{1 / (i + 1):.3f}")
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue() and 3 <= len(lines) <= 6
    assert lines[-1].startswith("epoch 1/3: 100% (20/20)") and "loss=0.050" in lines[-1]


def test_short_work_off_a_terminal_stays_silent():
    stream = io.StringIO()
    assert list(progress(range(5), "x", stream=stream)) == list(range(5)) and stream.getvalue() == ""


def test_disabled_progress_prints_nothing():
    stream = io.StringIO()
    assert list(progress(range(5), "x", enabled=False, stream=stream)) == list(range(5))
    assert stream.getvalue() == ""
