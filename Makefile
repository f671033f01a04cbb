# The two fresh-machine commands: `make demo` and `make test`. Both create .venv when missing.
VENV := .venv
PY := $(VENV)/bin/python
READY := $(VENV)/.bnn2hw-ready

.PHONY: demo test readme-test bench clean-venv

$(READY): requirements.lock pyproject.toml scripts/setup_venv.sh scripts/setup_cppsim_deps.sh
	bash scripts/setup_venv.sh

demo: $(READY)
	$(PY) -m bnn2hw.cli flow --out runs/demo --force

test: $(READY)
	$(PY) -m pytest -q

# README.md's sh blocks in order, as a new user runs them (tens of minutes; see tests/test_readme.py)
readme-test: $(READY)
	$(PY) -m pytest -q -m readme -s tests/test_readme.py

bench: $(READY)
	$(PY) scripts/bench_train.py
	$(PY) scripts/bench_compile.py
	$(PY) scripts/bench_build.py
	$(PY) scripts/bench_sim.py
	$(PY) scripts/bench_methods.py
	$(PY) scripts/bench_rtl_layers.py
	$(PY) scripts/bench_rtl.py
	$(PY) scripts/bench_cppsim.py
	$(PY) scripts/bench_ecp5.py

clean-venv:
	rm -rf $(VENV)
