"""Data-parallel training: 2 gloo processes on the CPU equal one process on the same global batches.

One spawn of two ranks trains bayesbinn (with augmentation), ste and pbnet-s for 20 steps each
(253 images in batches of 13: unequal shards of 7 and 6 rows, and a last batch of 6), then the
mutant: bayesbinn again with the gradient all-reduce skipped, which must not match.

The images are random bytes, not digits: a pixel that is the same in every image (the digits'
blank corners) gives its weights a gradient that is exactly 0 in exact arithmetic (batchnorm
centres the batch) and rounding noise in float, and the order of the sums differs between one
process and two; Adam divides by the gradient's own size, so that noise would become full-size
steps in both runs alike, but not the same steps. For the same reason batchnorm's β starts at
0.05 instead of 0: at β = 0 PBNet's sign probabilities Φ(μ/σ) do not depend on γ (it cancels),
so γ's first gradient is rounding noise.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from bnn2hw.data import Dataset
from bnn2hw.train.batchnorm import batchnorm_layers
from bnn2hw.train.config import TrainConfig
from bnn2hw.train.distributed import Runtime, start_runtime, stop_runtime
from bnn2hw.train.loop import Trainer
from bnn2hw.train.method_base import Method
from bnn2hw.train.methods import latent_weights

CASES = {"bayesbinn": {"augment": True}, "ste": {}, "pbnet-s": {}}
TRAIN_IMAGES, BATCH = 253, 13   # 20 steps per epoch
TOLERANCE = dict(rtol=1e-4, atol=1e-5)


def _config(method: str) -> TrainConfig:
    return TrainConfig(model="mlp:24,16", dataset="digits", method=method, epochs=1, batch_size=BATCH,
                       device="cpu", val_split=0.0, test_samples=0, seed=3, **CASES.get(method, {}))


def _data() -> Dataset:
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (TRAIN_IMAGES + 20, 1, 8, 8), dtype=np.uint8)
    labels = (images[:, 0, :4].astype(np.int64).sum((1, 2)) // 400 % 10).astype(np.int64)  # learnable, 10 classes
    return Dataset("random", images[:TRAIN_IMAGES], labels[:TRAIN_IMAGES], images[:0], labels[:0],
                   images[TRAIN_IMAGES:], labels[TRAIN_IMAGES:], tuple(str(c) for c in range(10)))


def _trained_state(method: str, out_dir, runtime: Runtime | None) -> dict:
    trainer = Trainer(_config(method), out_dir, _data(), runtime)
    for bn in batchnorm_layers(trainer.model):
        bn.bias.data.fill_(0.05)
    trainer.run_epoch(progress=False)
    state = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    state.update({f"latent{i}": t for i, t in enumerate(latent_weights(Method(method), trainer.model,
                                                                       trainer.optimizer))})
    return state


def _rank(rank: int, store: str, out: str) -> None:
    import bnn2hw.train.loop as loop

    torch.set_num_threads(1)
    runtime = start_runtime("cpu", init_method=f"file://{store}", rank=rank, world_size=2)
    results = {method: _trained_state(method, out, runtime) for method in CASES}
    loop.sum_gradients = lambda params, weighted_loss: weighted_loss  # the mutant: no all-reduce
    results["mutant"] = _trained_state("bayesbinn", out, runtime)
    if rank == 0:
        torch.save(results, f"{out}/ranks.pt")
    stop_runtime(runtime)


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("ddp")
    mp.spawn(_rank, args=(str(out / "store"), str(out)), nprocs=2, join=True)
    return torch.load(out / "ranks.pt", weights_only=True)


def _differences(a: dict, b: dict) -> list[str]:
    return [k for k in a if a[k].is_floating_point() and not torch.allclose(a[k], b[k], **TOLERANCE)] + \
           [k for k in a if not a[k].is_floating_point() and not torch.equal(a[k], b[k])]


@pytest.mark.parametrize("method", list(CASES))
def test_two_gloo_ranks_equal_one_process(two_ranks, method, tmp_path):
    one = _trained_state(method, tmp_path, None)
    assert any(k.startswith("latent") for k in one) and any("running_var" in k for k in one)
    assert _differences(one, two_ranks[method]) == []
    bn = next(k for k in one if k.endswith("running_mean"))
    assert not torch.equal(one[bn], torch.zeros_like(one[bn]))  # batchnorm state did move


def test_skipping_the_gradient_all_reduce_breaks_equality(two_ranks, tmp_path):
    one = _trained_state("bayesbinn", tmp_path, None)
    assert _differences(one, two_ranks["bayesbinn"]) == []
    assert any(k.startswith("latent") for k in _differences(one, two_ranks["mutant"]))


def test_shards_split_the_global_batch():
    from bnn2hw.train.distributed import shard

    rows = torch.arange(13)
    parts = [shard(rows, Runtime(torch.device("cpu"), r, 2)) for r in range(2)]
    assert [p.tolist() for p, _ in parts] == [list(range(7)), list(range(7, 13))]
    assert [offset for _, offset in parts] == [0, 7]
    assert np.array_equal(torch.cat([p for p, _ in parts]).numpy(), rows.numpy())
