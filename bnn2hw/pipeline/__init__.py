"""The pipeline: one function per CLI command, in the order data flows.

Contract: each ``run_*`` function takes plain arguments and frozen configs, writes its
artifacts (DESIGN.md, "Artifacts") under the directory it is given, and returns a summary
dict. They raise the stage's own errors (``DatasetError``, ``CheckpointError``,
``TrainingDiverged``, ``CompileError``, ``HwError``, ``SimError``, ``DeployError``,
``OutputDirError``, ``ValueError``); the CLI turns those into one-line messages.

Output directories (``bnn2hw.output_dir``): every ``run_*`` checks its output directory before
any work, and holds a lock on it while writing (a second bnn2hw process writing the same
directory is refused). A directory holding a previous run (``checkpoint.pt``), build
(``model.onnx``) or package (``io_spec.json``) is not overwritten unless ``force`` (training:
or ``resume``). A compiled build and a deploy package replace the old one only when complete.
``check_*`` raise ``CheckFailed`` for a report whose check failed (mismatches, overflows).
``run_build(BUILD, BuildConfig(...))`` takes the build stage's frozen config (``bnn2hw.hw.BuildConfig``);
with ``source=ImportOptions(FILE)`` (``bnn2hw build BUILD --model FILE.onnx``) it first imports a
Brevitas / QONNX w1a1 export into the build directory (``run_import``; ``bnn2hw.compile.qonnx_import``).

Layout: ``common`` (overwrite refusal, counts, build locks, sample directories), ``training``
(train, continual, uncertainty), ``building`` (compile, import, build), ``checking`` (simulate's
rungs and synth, with their ``check_*``), ``flow`` (deploy, the whole flow). Everything public
is re-exported here: ``from bnn2hw import pipeline; pipeline.run_build(...)``.
"""

from __future__ import annotations

from bnn2hw.pipeline.common import BUILD_MARKERS, PACKAGE_MARKER, RUN_FILES, SAMPLES_DIR, check_count, sample_dirs
from bnn2hw.pipeline.training import check_train_options, run_continual, run_train, run_uncertainty
from bnn2hw.pipeline.building import (
    ImportOptions, check_compile, run_build, run_compile, run_import, sample_config,
)
from bnn2hw.pipeline.checking import (
    check_cppsim, check_rtlsim, check_shellsim, check_simulation, check_synth, run_cppsim, run_rtl_layers, run_rtlsim,
    run_shellsim, run_simulate, run_synth,
)
from bnn2hw.pipeline.flow import FlowConfig, run_deploy, run_flow

__all__ = [
    "BUILD_MARKERS", "FlowConfig", "ImportOptions",
    "PACKAGE_MARKER", "RUN_FILES", "SAMPLES_DIR", "check_compile", "check_count", "check_cppsim", "check_rtlsim",
    "check_shellsim", "check_simulation", "check_synth", "check_train_options", "run_build", "run_compile", "run_continual", "run_cppsim",
    "run_deploy", "run_flow", "run_import", "run_rtl_layers", "run_rtlsim", "run_shellsim", "run_simulate",
    "run_synth", "run_train", "run_uncertainty", "sample_config", "sample_dirs",
]
