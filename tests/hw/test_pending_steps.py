"""What a build stopped at code generation says is left for Vivado: only what applies to its impl."""

from __future__ import annotations

from bnn2hw.hw import vivado


def test_rtl_builds_list_no_hls_synthesis_or_vivado_fifo_sizing():
    rtl, hls = vivado.pending_steps("rtl"), vivado.pending_steps("hls")
    assert not any("HLS" in step or "FIFO" in step for step in rtl)
    assert any("accelerator.sv" in step for step in rtl) and any("bnn2hw synth" in step for step in rtl)
    assert any("HLS synthesis" in step for step in hls) and any("FIFO" in step for step in hls)
