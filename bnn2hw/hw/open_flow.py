"""The open-tool back end of a build: an ECP5 bitstream with Yosys, nextpnr and ecppack.

Contract: ``ecp5_bitstream(state, est)`` runs, for an ``--impl rtl`` build on an ECP5 board
(``boards/ulx3s-*.yaml``), after the stitched ``accelerator`` is written: the UART shell for the
build (``bnn2hw.eda.shell``: parameters from the stream widths, the board clock and
``BuildConfig.baud``; top ``bnn2hw_uart_top`` on the board's clock, UART and LED pins), then
``bnn2hw.eda.ecp5.place_and_route`` at the build's clock into ``BUILD/hw/bitfile/`` (the
bitstream ``accelerator.bit``, the nextpnr report, ``ecp5.json``). It adds ``pnr`` to the
estimates (LUT4 / FF / DP16KD / MULT18 used and available, achieved Fmax, timing met, seconds per
tool, the tools' versions, the UART rate) and returns them. Anything the tools refuse (missing
tools, a design too big for the board, timing not met: with the achieved Fmax and a clock that
would pass) becomes an ``HwError`` with their message. An ECP5 board without ``--impl rtl`` is
refused before any work (FINN's HLS layers need Vivado).
"""

from __future__ import annotations

from bnn2hw.hw.config import BuildCheckFailed, HwError, Impl


def check_board_impl(board, config) -> None:
    if board.family == "ecp5" and config.impl != Impl.RTL:
        raise HwError(f"{board.name} is an ECP5 board: its bitstream comes from bnn2hw's RTL with open tools; "
                      f"build with --impl rtl")


def ecp5_bitstream(state, est: dict) -> dict:
    from bnn2hw.eda import EdaError
    from bnn2hw.eda.ecp5 import place_and_route
    from bnn2hw.eda.shell import TOP, shell_parameters, write_shell
    build_dir = state.hw_dir.parent
    try:
        params = shell_parameters(build_dir, state.clock_mhz * 1e6, state.config.baud)
        sources = write_shell(build_dir, params)
        result = place_and_route(state.hw_dir / "rtl", state.board, TOP, state.clock_mhz, state.hw_dir / "bitfile",
                                 extra_sources=sources, log=state.log_progress)
    except EdaError as err:
        error = BuildCheckFailed if "timing not met" in str(err) or "does not fit" in str(err) else HwError
        raise error(f"ECP5 bitstream for {state.board.name}: {err}") from None
    keys = ("used", "available", "luts", "ffs", "brams", "dsps", "fmax_mhz", "clock_mhz", "timing_met", "seconds",
            "tools", "bitfile", "bitfile_bytes", "report", "top")
    est["pnr"] = {**{k: result.get(k) for k in keys}, "baud": state.config.baud, "uart_frame_bytes":
                  params["IN_BYTES"] + 2}
    return est
