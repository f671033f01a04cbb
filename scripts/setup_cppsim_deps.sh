#!/usr/bin/env bash
# Fetches what `bnn2hw simulate --cppsim` compiles against into .deps/ (git-ignored, never committed):
# * the open ap types (ap_int.h, ap_fixed.h, hls_stream.h; Apache-2.0) from the pinned hls4ml wheel on
#   PyPI, checked by hash and unpacked into .deps/ap_types: the wheel is never installed or imported;
# * finn-hlslib (github.com/Xilinx/finn-hlslib, BSD-3) at the commit finn-plus pins
#   (finn/interface/external_dependencies.yaml) into .deps/finn-hlslib.
# Without network either is a message, not a failure: --cppsim then says how to get it and its tests
# skip. Run by scripts/setup_venv.sh once .venv exists; safe to run again (present parts are kept).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
HLS4ML_PIN="hls4ml==1.3.0 --hash=sha256:01bf1de2cd9bca56699b9fe3385cb1735026b022f9580fe1d73faf192dfb90f2"
AP_TYPES_IN_WHEEL="hls4ml/templates/vivado/ap_types/"
mkdir -p .deps

if [ ! -f .deps/ap_types/ap_int.h ]; then
  wheels=$(mktemp -d)
  echo "$HLS4ML_PIN" > "$wheels/requirements.txt"
  if $PY -m pip download --disable-pip-version-check -q --no-deps --require-hashes -r "$wheels/requirements.txt" \
       -d "$wheels" >/dev/null 2>&1; then
    $PY - "$wheels" "$AP_TYPES_IN_WHEEL" <<'PYTHON'
import pathlib, shutil, sys, zipfile
wheels, prefix = pathlib.Path(sys.argv[1]), sys.argv[2]
target, staging = pathlib.Path(".deps/ap_types"), pathlib.Path(".deps/ap_types.tmp")
shutil.rmtree(staging, ignore_errors=True)
with zipfile.ZipFile(next(wheels.glob("hls4ml-*.whl"))) as wheel:
    for name in wheel.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            out = staging / name[len(prefix):]
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(wheel.read(name))
shutil.rmtree(target, ignore_errors=True)
staging.rename(target)
PYTHON
    echo "setup: ap types unpacked into .deps/ap_types (${HLS4ML_PIN%% *})"
  else
    echo "setup: could not download ${HLS4ML_PIN%% *} from PyPI; \`bnn2hw simulate --cppsim\` needs its ap types"
  fi
  rm -rf "$wheels"
fi

if [ ! -f .deps/finn-hlslib/bnn-library.h ]; then
  commit=$($PY -c 'from bnn2hw.hw.cppsim import hlslib_pin; print(hlslib_pin())')
  rm -rf .deps/finn-hlslib.tmp
  if GIT_TERMINAL_PROMPT=0 timeout 120 git clone -q https://github.com/Xilinx/finn-hlslib.git .deps/finn-hlslib.tmp \
       2>/dev/null && git -C .deps/finn-hlslib.tmp checkout -q "$commit" 2>/dev/null; then
    mv .deps/finn-hlslib.tmp .deps/finn-hlslib
    echo "setup: finn-hlslib $commit in .deps/finn-hlslib"
  else
    rm -rf .deps/finn-hlslib.tmp
    echo "setup: could not clone finn-hlslib at $commit (github.com unreachable?): \`bnn2hw simulate --cppsim\`" \
         "and its tests need it (they skip); clone it and pass --hlslib DIR, or set hlslib under [cppsim]" \
         "in ~/.config/bnn2hw/config.toml"
  fi
fi
