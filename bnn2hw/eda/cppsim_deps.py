"""What FINN's C++ simulation (cppsim) needs from outside Vitis, found and laid out for g++.

Contract (no FINN, no torch):
* ``find_deps(hlslib, config)`` returns ``CppsimDeps``: finn-hlslib from the directory the user
  names (``--hlslib DIR``), else from the ``[cppsim] hlslib`` setting of the config file
  (``CONFIG_FILE``, TOML), else ``.deps/finn-hlslib`` (cloned by ``scripts/setup_venv.sh`` at
  FINN's pinned commit when the network allows); the open ap types (``ap_int.h``,
  ``ap_fixed.h``, ``hls_stream.h``, from the pinned hls4ml wheel, never imported) from the
  config's ``[cppsim] ap_types`` or ``.deps/ap_types``. A missing one raises ``EdaError``
  saying how to get it (``HLSLIB_HELP``, ``AP_TYPES_HELP``).
* ``vitis_stand_in(deps, cache_dir)`` returns a directory laid out as FINN expects
  ``$XILINX_HLS`` (``include/`` and the ``lnx64`` library folders its compile line names):
  ``include/`` holds bnn2hw's shims (``hw/hls_shims/``, each says which Vitis feature it stands
  in for) and the libraries are empty archives, since nothing the simulated layers call lives in
  them. Built once per shim content under ``cache_dir``.
* ``compile_environment(deps, stand_in, custom_hls)``: the variables FINN's compile script
  reads (``XILINX_HLS``, ``FINN_CUSTOM_HLS``) and ``CPATH`` = the ap types, searched after
  the shims so that a shim can wrap an ap-types header with ``#include_next``.
* ``deps_fingerprint(deps)``: the content hash of everything g++ reads besides the generated
  code (finn-hlslib and ap-types headers, shims, the g++ version), for the binary cache;
  ``cached_binary(key)`` / ``store_binary(key, exe)`` read and fill that cache
  (``CACHE/<key>/node_model``, stored by an atomic rename, so a concurrent or interrupted run
  never leaves a half-written entry).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from bnn2hw.eda.verilator import EdaError, ToolFailed
from bnn2hw.assets import hw_sources_dir

REPO_ROOT = Path(__file__).resolve().parents[2]  # .deps/ lives in the checkout (setup_venv.sh fills it)
SHIMS_DIR = hw_sources_dir() / "hls_shims"
DEPS_DIR = REPO_ROOT / ".deps"
CONFIG_FILE = Path.home() / ".config" / "bnn2hw" / "config.toml"
CACHE_DIR = Path.home() / ".cache" / "bnn2hw" / "cppsim"
HEADER_SUFFIXES = (".h", ".hpp")
# The Vitis libraries FINN's cppsim compile line links (-L folder, library names).
VITIS_LIBRARIES = {"lnx64/lib/csim": ("hlsmc++-GCC46",),
                   "lnx64/tools/fpo_v7_1": ("gmp", "mpfr", "Ip_floating_point_v7_1_bitacc_cmodel")}
EMPTY_ARCHIVE = b"!<arch>\n"
HLSLIB_HELP = ("--cppsim compiles against finn-hlslib (github.com/Xilinx/finn-hlslib, BSD-3): run "
               "`bash scripts/setup_venv.sh` with network access (it clones FINN's pinned commit into "
               ".deps/finn-hlslib), or clone it yourself and pass `--hlslib DIR` or set `hlslib = \"DIR\"` "
               f"under [cppsim] in {CONFIG_FILE}")
AP_TYPES_HELP = ("--cppsim compiles against the open ap types (ap_int.h, hls_stream.h; from the hls4ml wheel "
                 "on PyPI): run `bash scripts/setup_venv.sh` (it unpacks them into .deps/ap_types), or set "
                 f"`ap_types = \"DIR\"` under [cppsim] in {CONFIG_FILE}")


@dataclass(frozen=True)
class CppsimDeps:
    """Where the headers of a cppsim compile come from."""

    hlslib: Path
    ap_types: Path

    def hlslib_commit(self) -> str | None:
        """The finn-hlslib checkout's git commit (None when it is not a git checkout)."""
        out = subprocess.run(["git", "-C", str(self.hlslib), "rev-parse", "HEAD"], capture_output=True, text=True,
                             check=False)
        return out.stdout.strip() or None if out.returncode == 0 else None


def read_config(config: Path | None = None) -> dict:
    """The ``[cppsim]`` table of the config file ({} when there is no file)."""
    path = CONFIG_FILE if config is None else Path(config)
    if not path.is_file():
        if config is not None:
            raise EdaError(f"{path}: no such config file")
        return {}
    try:
        table = tomllib.loads(path.read_text()).get("cppsim", {})
    except tomllib.TOMLDecodeError as err:
        raise EdaError(f"{path}: not valid TOML ({err})") from None
    if not isinstance(table, dict):
        raise EdaError(f"{path}: [cppsim] must be a table")
    return table


def _checked_dir(path: Path, marker: str, origin: str, help_text: str) -> Path:
    path = Path(path).expanduser()
    if not (path / marker).is_file():
        raise EdaError(f"{path} (from {origin}) has no {marker}; {help_text}")
    return path.resolve()


def find_hlslib(hlslib: Path | None = None, config: Path | None = None) -> Path:
    """finn-hlslib: ``--hlslib``, else the config file's ``[cppsim] hlslib``, else ``.deps/finn-hlslib``."""
    settings = read_config(config)
    if hlslib is not None:
        return _checked_dir(hlslib, "bnn-library.h", "--hlslib", HLSLIB_HELP)
    if settings.get("hlslib"):
        return _checked_dir(settings["hlslib"], "bnn-library.h", f"{config or CONFIG_FILE}", HLSLIB_HELP)
    if (DEPS_DIR / "finn-hlslib" / "bnn-library.h").is_file():
        return (DEPS_DIR / "finn-hlslib").resolve()
    raise ToolFailed(f"finn-hlslib not found: {HLSLIB_HELP}")


def find_ap_types(config: Path | None = None) -> Path:
    """The open ap types: the config file's ``[cppsim] ap_types``, else ``.deps/ap_types``."""
    settings = read_config(config)
    if settings.get("ap_types"):
        return _checked_dir(settings["ap_types"], "ap_int.h", f"{config or CONFIG_FILE}", AP_TYPES_HELP)
    if (DEPS_DIR / "ap_types" / "ap_int.h").is_file():
        return (DEPS_DIR / "ap_types").resolve()
    raise ToolFailed(f"ap types not found: {AP_TYPES_HELP}")


def find_deps(hlslib: Path | None = None, config: Path | None = None) -> CppsimDeps:
    """finn-hlslib and the ap types, looked up as the module docstring says."""
    return CppsimDeps(find_hlslib(hlslib, config), find_ap_types(config))


def _hash_tree(digest, root: Path, suffixes: tuple[str, ...]) -> None:
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file() and p.suffix in suffixes):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")


def gxx_version() -> str:
    if shutil.which("g++") is None:
        raise ToolFailed("g++ not found: install it (Debian: `apt-get install g++ zlib1g-dev`)")
    return subprocess.run(["g++", "--version"], capture_output=True, text=True, check=False).stdout.strip()


def deps_fingerprint(deps: CppsimDeps) -> str:
    digest = hashlib.sha256(gxx_version().encode() + b"\0")
    for root in (deps.hlslib, deps.ap_types, SHIMS_DIR):
        _hash_tree(digest, root, HEADER_SUFFIXES)
    return digest.hexdigest()


def vitis_stand_in(cache_dir: Path = CACHE_DIR) -> Path:
    """``$XILINX_HLS`` for FINN's compile line: the shims and empty library archives (module docstring)."""
    digest = hashlib.sha256()
    _hash_tree(digest, SHIMS_DIR, HEADER_SUFFIXES)
    target = Path(cache_dir) / f"vitis-stand-in-{digest.hexdigest()[:16]}"
    if (target / "include").is_dir():
        return target
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="vitis-stand-in.tmp-", dir=cache_dir))
    shutil.copytree(SHIMS_DIR, work / "include")
    for folder, names in VITIS_LIBRARIES.items():
        (work / folder).mkdir(parents=True)
        for name in names:
            (work / folder / f"lib{name}.a").write_bytes(EMPTY_ARCHIVE)
    try:
        os.rename(work, target)
    except OSError:  # made meanwhile by another run: theirs is identical
        shutil.rmtree(work, ignore_errors=True)
    return target


def compile_environment(deps: CppsimDeps, stand_in: Path, custom_hls: Path) -> dict[str, str]:
    """Environment variables for FINN's cppsim compile script (module docstring)."""
    return {"XILINX_HLS": str(stand_in), "FINN_CUSTOM_HLS": str(custom_hls), "CPATH": str(deps.ap_types)}


def cached_binary(key: str, cache_dir: Path = CACHE_DIR) -> Path | None:
    """The compiled node model stored under ``key``, or None."""
    exe = Path(cache_dir) / key / "node_model"
    return exe if exe.is_file() else None


def store_binary(key: str, exe: Path, cache_dir: Path = CACHE_DIR) -> Path:
    """Move a freshly compiled ``exe`` into the cache under ``key`` (atomically) and return its new path."""
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{key}.tmp-", dir=cache_dir))
    shutil.move(str(exe), work / "node_model")
    try:
        os.rename(work, Path(cache_dir) / key)
    except OSError:  # stored meanwhile by another run: same content
        shutil.rmtree(work, ignore_errors=True)
    return Path(cache_dir) / key / "node_model"
