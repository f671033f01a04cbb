"""Shared fixtures: small runs trained once per session, so tests stay fast."""

from __future__ import annotations

from pathlib import Path

import pytest

from bnn2hw.train import TrainConfig, train


def tiny_config(**changes) -> TrainConfig:
    base = dict(model="mlp:32", dataset="digits", epochs=2, batch_size=64, test_samples=3, val_split=0.1)
    return TrainConfig(**{**base, **changes})


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A 2-epoch BayesBiNN run of a 32-unit MLP on digits."""
    out = tmp_path_factory.mktemp("tiny_run")
    train(tiny_config(), out, progress=False, log=lambda _: None)
    return out


def _train(tmp_path_factory, name: str, **config) -> Path:
    run = tmp_path_factory.mktemp(name)
    train(TrainConfig(dataset="digits", **config), run, progress=False, log=lambda _: None)
    return run


@pytest.fixture(scope="session")
def tfc_digits_run(tmp_path_factory) -> Path:
    return _train(tmp_path_factory, "tfc", model="tfc", epochs=2)


@pytest.fixture(scope="session")
def sfc_digits_run(tmp_path_factory) -> Path:
    return _train(tmp_path_factory, "sfc", model="sfc", epochs=1)


@pytest.fixture(scope="session")
def tfc_ste_run(tmp_path_factory) -> Path:
    return _train(tmp_path_factory, "tfc_ste", model="tfc", epochs=1, method="ste")


@pytest.fixture(scope="session")
def sampler_build(tfc_digits_run, tmp_path_factory) -> Path:
    """A BayesBiNN TFC on digits compiled with ``--posterior-bits 4``, built ``--impl rtl --output
    scores`` with ``TFC_SCORES_FOLDING``: the stitched top has the sampler and ``ens_passes``."""
    import json
    from bnn2hw.compile import compile_run
    from bnn2hw.hw import build
    from tests.eda.conftest import TFC_SCORES_FOLDING
    out = tmp_path_factory.mktemp("sampler_rtl") / "build"
    compile_run(tfc_digits_run, out, posterior_bits=4)
    folding = out.parent / "folding.json"
    folding.write_text(json.dumps(TFC_SCORES_FOLDING))
    build(out, board="pynq-z2", folding=folding, verify_limit=8, impl="rtl", output="scores", log=lambda _: None)
    return out
