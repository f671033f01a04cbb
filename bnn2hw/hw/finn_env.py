"""Every finn-plus 1.6.1 workaround bnn2hw needs, in one place; the door through which FINN is imported.

Contract: call ``import_finn()`` before importing anything below ``finn.builder`` or
``finn.transformation``; run FINN passes inside ``finn_settings(build_dir)`` so that the code
FINN generates lands in ``build_dir`` (never in a global temporary folder); ask
``xilinx_tools()`` what of Vivado / Vitis HLS is installed. Nothing here needs Vivado.

finn-plus 1.6.1 quirks handled here (re-check them when the pin moves):

1. ``finn.xsi`` (RTL simulation through Vivado's XSI) is resolved lazily, and the builder
   modules touch ``finn.xsi.SimEngine`` at import, which looks for ``XILINX_VIVADO`` and tries
   to build ``xsi.so``. Without Vivado ``SimEngine`` is set to None first (plain assignment:
   reading it would trigger the lookup).
2. FINN keeps its settings (``finn_build_dir`` above all) in a module global that only its
   CLI (``run_finn.py``) fills; outside the CLI every ``make_build_dir`` raises. We install a
   ``FINNSettings`` object for the duration of a build, without exporting environment
   variables (``auto_set_environment_vars=False``), and restore the previous one after.
3. ``build_dataflow_cfg`` redirects ``sys.stdout`` for good, re-configures the root logger
   (``logging.basicConfig(force=True)``) and ends in ``exit_buildflow``, which raises without
   ``XILINX_VIVADO``. bnn2hw therefore runs FINN's step functions with its own small runner
   (``bnn2hw.hw.steps.run_steps``), same ``step(model, cfg) -> model`` contract.
4. ``psutil`` is imported by FINN's FIFO sizing (``simulation_build``) but not declared as a
   dependency; ``require_psutil`` says how to install it before the Vivado steps need it.
5. ``finn.util.data_packing.array2hexstring`` packs weights into hex value by value through
   ``bitstring``; code generation for LFC (2.9 million weights) spent ~40 s there.
   ``import_finn`` swaps in the vectorised, output-identical functions of
   ``bnn2hw.hw.fast_packing``, only for finn-plus 1.6.1 (they were checked against that
   version's code; another version keeps FINN's own and a warning is logged).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

FINN_PLUS_VERSION = "1.6.1"
FINN_HW_DOMAIN = "finn.custom_op.fpgadataflow"


@dataclass(frozen=True)
class XilinxTools:
    """What of the AMD tools this machine has (paths, or None)."""

    vivado: str | None
    vitis_hls: str | None

    @property
    def complete(self) -> bool:
        return self.vivado is not None and self.vitis_hls is not None

    def missing(self) -> list[str]:
        return [name for name, path in (("Vivado", self.vivado), ("Vitis HLS", self.vitis_hls)) if path is None]


def _tool(env_var: str, executable: str) -> str | None:
    root = os.environ.get(env_var)
    if root and (Path(root) / "bin" / executable).exists():
        return str(Path(root) / "bin" / executable)
    return shutil.which(executable)


def xilinx_tools() -> XilinxTools:
    """Vivado from ``XILINX_VIVADO`` or ``vivado`` on PATH; Vitis HLS from ``XILINX_HLS`` or PATH."""
    return XilinxTools(vivado=_tool("XILINX_VIVADO", "vivado"), vitis_hls=_tool("XILINX_HLS", "vitis_hls"))


_IMPORTED = False


def import_finn() -> None:
    """Import ``finn`` with quirk 1 applied (idempotent)."""
    global _IMPORTED
    if _IMPORTED:
        return
    import finn.xsi
    if xilinx_tools().vivado is None or "XILINX_VIVADO" not in os.environ:
        finn.xsi.SimEngine = None  # plain assignment: reading it would look for Vivado
    install_fast_packing()
    _IMPORTED = True


def install_fast_packing() -> bool:
    """Quirk 5: FINN's hex packing -> ``bnn2hw.hw.fast_packing`` when finn-plus is 1.6.1."""
    version = importlib.metadata.version("finn-plus")
    if version != FINN_PLUS_VERSION:
        logging.getLogger(__name__).warning(
            "finn-plus %s is not %s: FINN's own (slow) weight packing is kept; re-check "
            "bnn2hw.hw.fast_packing against this version before enabling it", version, FINN_PLUS_VERSION)
        return False
    from bnn2hw.hw import fast_packing
    fast_packing.install()
    return True


@contextlib.contextmanager
def finn_settings(build_dir: Path):
    """FINN's global settings with ``finn_build_dir = build_dir`` for the ``with`` block (quirk 2)."""
    import_finn()
    import finn.util.settings as settings_module
    from finn.interface.settings import FINNSettings
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    previous = settings_module._SETTINGS
    settings_module._SETTINGS = FINNSettings.init(
        flow_config=build_dir / "flow.yaml", finn_build_dir=str(build_dir), auto_set_environment_vars=False)
    try:
        yield settings_module._SETTINGS
    finally:
        settings_module._SETTINGS = previous


def require_psutil() -> None:
    """Quirk 4: raise ImportError with the install command when ``psutil`` is missing."""
    try:
        import psutil  # noqa: F401
    except ImportError:
        raise ImportError(f"finn-plus {FINN_PLUS_VERSION} needs psutil for FIFO sizing "
                          "(undeclared dependency): pip install psutil") from None


def is_hw_node(node) -> bool:
    """True for a FINN HW layer (any node of FINN's fpgadataflow domain)."""
    return node.domain.startswith(FINN_HW_DOMAIN)
