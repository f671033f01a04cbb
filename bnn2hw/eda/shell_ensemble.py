"""The on-chip ensemble through the UART shell: what each pass's reply must hold, and the metrics.

An ``A6`` frame of K passes (``bnn2hw.eda.shell``) is answered by K replies, pass 0 first; the
replies' output bytes are the stitched top's output words (``ceil(OUT_WIDTH/8)`` bytes a word,
little-endian), decoded here as ``bnn2hw simulate --rtl --ensemble`` decodes the top's words
(``bnn2hw.eda.rtlsim.output_values``, then ``Accelerator.scores_output``).

Contract:
* ``PassCheck(build_dir, images, passes, params)``: ``expected`` (K, N, classes) integer scores of
  ``bnn2hw.sim.posterior.onchip_members`` (the RTL sampler's definition) and ``mode`` (N, classes),
  ``bnn2hw.sim``'s scores of the mode network; ``scores(body)`` decodes one reply's output bytes to
  its (classes,) integer scores; ``matches(body, image, k)`` is ``np.array_equal`` of those with
  pass k of that image, and records them for ``metrics``.
* ``metrics(check, true_labels)`` -> ``samples``, ``passes_compared``, ``mismatched_passes`` and,
  with ``true_labels``, the K replies' averaged softmax(``output_scale`` · scores): ``accuracy``,
  ``nll``, ``ece``, and the mode network's ``mode_nll``, ``mode_accuracy`` (``output_scale`` from
  ``bnn2hw.sim.api.output_scale_for``, as ``--rtl --ensemble`` uses), from the replies' scores. A
  pass whose reply is missing or not a good reply counts as mismatched, and the metrics use the
  simulator's scores for it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bnn2hw.eda.rtlsim import output_values
from bnn2hw.eda.verilator import EdaError
from bnn2hw.sim.accelerator import Accelerator


class PassCheck:
    """Expected scores of every pass of every image, and the replies' decoded scores."""

    def __init__(self, build_dir: Path, images: np.ndarray, passes: int, params: dict):
        from bnn2hw.sim.posterior import onchip_members
        self.build_dir, self.passes = Path(build_dir), int(passes)
        self.accelerator = Accelerator.load(self.build_dir / "hw")
        if self.accelerator.label_select is not None:
            raise EdaError("--shell --ensemble needs a build with --output scores (the host averages scores)")
        self.word_bytes = -(-params["OUT_WIDTH"] // 8)
        self.out_words = params["OUT_WORDS"]
        self.expected = np.stack(onchip_members(self.build_dir, images, self.passes))       # (K, N, classes)
        streams = self.accelerator.node_streams(images)
        self.mode = self.accelerator.outputs(streams, len(images)).scores
        self.got = self.expected.copy()       # the replies' scores, as they come
        self.bad = np.ones(self.expected.shape[:2], bool)

    def scores(self, body: bytes) -> np.ndarray:
        """One reply's output bytes -> the network's integer scores (classes,)."""
        chunks = -(-self.word_bytes // 4)
        raw = np.zeros((self.out_words, 4 * chunks), np.uint8)
        raw[:, :self.word_bytes] = np.frombuffer(body, np.uint8).reshape(self.out_words, self.word_bytes)
        words = raw.view("<u4").reshape(self.out_words, chunks)
        values = output_values(words, self.accelerator.kernels[-1], 1)
        return self.accelerator.scores_output(values).scores[0]

    def matches(self, body: bytes, image: int, k: int) -> bool:
        scores = self.scores(body)
        self.got[k, image] = scores
        self.bad[k, image] = not np.array_equal(scores, self.expected[k, image])
        return not self.bad[k, image]


def metrics(check: PassCheck, true_labels: np.ndarray | None) -> dict:
    from bnn2hw.sim.api import output_scale_for
    from bnn2hw.sim.ensemble import ensemble_metrics
    report = {"samples": check.passes, "passes_compared": int(check.bad.size),
              "mismatched_passes": int(check.bad.sum()),
              "mismatched_pass_indices": sorted({int(k) for k in np.nonzero(check.bad)[0]})}
    if true_labels is not None:
        scale, _source = output_scale_for(check.build_dir)
        ens = ensemble_metrics(list(check.got), true_labels, scale, check.mode)
        mode = ensemble_metrics([check.mode], true_labels, scale)
        report.update({"nll": round(ens["nll"], 6), "mode_nll": round(mode["nll"], 6), "ece": round(ens["ece"], 6),
                       "accuracy": round(ens["accuracy"], 4), "mode_accuracy": round(mode["accuracy"], 4),
                       "output_scale": scale})
    return report
