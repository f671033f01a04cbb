"""Progress for long work that reads well on a terminal and in a log file.

Contract: ``progress(iterable, desc, total=None, enabled=True)`` yields the items of ``iterable``.
On a terminal (stderr is a tty) it is a tqdm bar, redrawn in place. Off a terminal (a log file,
CI, a pipe, a notebook's captured stream) a bar redrawn with carriage returns would write one
fragment per step; there it prints whole lines instead: ``desc: 40% (400/1000) 12 s, loss=...``,
at most one every ``LOG_INTERVAL_S`` seconds, and one at the end when the work took that long
(short work stays silent, so a refusal's one-line message stays one line). ``enabled=False``
prints nothing.
``report(values)`` on the returned object sets the figures shown beside the count (tqdm's
postfix), without forcing a redraw. Imports tqdm only on a terminal; usable by every stage.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator

LOG_INTERVAL_S = 30.0


class _Progress:
    def __init__(self, iterable: Iterable, desc: str, total: int | None, enabled: bool, stream=None):
        self.iterable, self.desc, self.enabled = iterable, desc, enabled
        self.total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
        self.stream = stream if stream is not None else sys.stderr
        self.values: dict[str, str] = {}
        self._bar = None

    def report(self, **values) -> None:
        self.values = {k: str(v) for k, v in values.items()}
        if self._bar is not None:
            self._bar.set_postfix(self.values, refresh=False)

    def __iter__(self) -> Iterator:
        if not self.enabled:
            yield from self.iterable
        elif self.stream.isatty():
            from tqdm import tqdm
            with tqdm(self.iterable, desc=self.desc, total=self.total, leave=False, file=self.stream) as bar:
                self._bar = bar
                yield from bar
        else:
            yield from self._lines()

    def _lines(self) -> Iterator:
        start = last = time.monotonic()
        done = 0
        for item in self.iterable:
            yield item
            done += 1
            now = time.monotonic()
            if now - last >= LOG_INTERVAL_S:
                self._print(done, now - start)
                last = now
        if time.monotonic() - start >= LOG_INTERVAL_S:
            self._print(done, time.monotonic() - start)

    def _print(self, done: int, seconds: float) -> None:
        share = f"{100 * done / self.total:.0f}% ({done}/{self.total})" if self.total else f"{done}"
        extra = "".join(f", {k}={v}" for k, v in self.values.items())
        print(f"{self.desc}: {share} {seconds:.0f} s{extra}", file=self.stream, flush=True)


def progress(iterable: Iterable, desc: str, total: int | None = None, enabled: bool = True, stream=None) -> _Progress:
    """See the module docstring."""
    return _Progress(iterable, desc, total, enabled, stream)
