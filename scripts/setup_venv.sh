#!/usr/bin/env bash
# Creates .venv with every dependency pinned, on a fresh machine.
#
# Order matters (see DESIGN.md, environment facts): torch==2.13.0 first so that no
# other package can pull a CUDA build; finn-plus 1.6.1 last with --no-deps because it
# pins brevitas==0.13.0, which breaks on torch 2.13; brevitas 0.13.4 and finn-plus's
# declared dependencies are in requirements.lock instead.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), "bnn2hw needs Python 3.11, found " + sys.version' 

rm -rf .venv
"$PY" -m venv .venv
PIP=".venv/bin/pip --disable-pip-version-check -q"
$PIP install "torch==2.13.0" "setuptools>=77.0.3,<81"
$PIP install -r requirements.lock
$PIP install --no-deps "finn-plus==1.6.1"
$PIP install --no-deps --no-build-isolation -e .

# Fashion-MNIST, Verilator and ABC come from Debian; a missing package is a message, not a failure.
debian_packages=()
[ -d /usr/share/datasets/fashion-mnist ] || debian_packages+=(dataset-fashion-mnist)
command -v verilator >/dev/null || debian_packages+=(verilator)
# ABC's bmc3 for the stitched accelerator's proof (the formal tools' own yosys has no standalone ABC)
command -v berkeley-abc >/dev/null || command -v yosys-abc >/dev/null || debian_packages+=(berkeley-abc)
if [ ${#debian_packages[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian's ${debian_packages[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${debian_packages[@]}" >/dev/null) \
      || echo "setup: could not install ${debian_packages[*]}; the tests that need them will skip"
  else
    echo "setup: not root or no apt-get; 'apt-get install ${debian_packages[*]}' for Fashion-MNIST (or --data-dir)" \
         "and the Verilator rungs (they skip without it)"
  fi
fi
# finn-hlslib and the open ap types for `bnn2hw simulate --cppsim` (into .deps/; messages, never failures).
bash scripts/setup_cppsim_deps.sh || echo "setup: the cppsim dependencies were not fetched; --cppsim and its tests skip"

touch .venv/.bnn2hw-ready
echo "setup: .venv ready"
