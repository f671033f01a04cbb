"""The driver's ``sim`` backend: a deploy package's packed DMA streams through ``bnn2hw.sim``.

Contract: ``SimDevice(package_dir, spec)`` loads the package's copy of the dataflow graph
(``spec["sim"]["dataflow"]``) into ``bnn2hw.sim``'s kernels. ``execute(packed)`` takes what the
input DMA would read, uint8 ``(N, *input.shape_packed[1:])``, decodes each stream word with
``bnn2hw.sim.packing`` (independently of the driver's own packing), runs the folded graph node by
node and returns what the output DMA would write, uint8 ``(N, *output.shape_packed[1:])``, packed
as FINN's ``finnpy_to_packed_bytearray(reverse_inner=True, reverse_endian=True)``.
``execute_passes(packed, passes)``, for a package with ``onchip_ensemble`` (a build whose stitched
top has the posterior sampler), is K = ``passes`` sampled passes per image, as the RTL sampler runs
them (``bnn2hw.sim.posterior``, with the package's ``sim/posterior.json``): uint8 ``(N, K,
*output.shape_packed[1:])``, pass k of image i what the board's k-th reply for it holds.
``load_weights({layer: uint32 words})`` decodes FINN runtime-weight words
(``bnn2hw.deploy.weights.weights_from_words``) and swaps them into the layers' weight
initializers, as writing the AXI-lite weight memories does on the board. Raises ``SimError``
(from the simulator) or ``DeployError``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bnn2hw.deploy.io_spec import DeployError
from bnn2hw.deploy.weights import weights_from_words
from bnn2hw.sim.accelerator import Accelerator
from bnn2hw.sim.datatypes import int_type
from bnn2hw.sim.graph import GraphView, load_model
from bnn2hw.sim.packing import packed_bytearray, unpack_words

LIMB_BYTES = 8


def decode_stream(packed: np.ndarray, side: dict) -> np.ndarray:
    """DMA bytes (..., nbytes) -> stream values (..., elems); 1-bit types stay bits 0/1 (sim convention)."""
    dtype, elems = int_type(side["datatype"]), int(side["shape_folded"][-1])
    packed = np.asarray(packed, dtype=np.uint8)
    pad = -packed.shape[-1] % LIMB_BYTES
    padded = np.concatenate([packed, np.zeros(packed.shape[:-1] + (pad,), np.uint8)], axis=-1)
    patterns = unpack_words(np.ascontiguousarray(padded).view("<u8"), dtype.bits, elems)
    return patterns if dtype.bits == 1 else dtype.from_bits(patterns)


def encode_stream(values: np.ndarray, side: dict) -> np.ndarray:
    """Stream values (..., elems) -> DMA bytes (..., nbytes) (1-bit values are already bits)."""
    dtype = int_type(side["datatype"])
    patterns = values if dtype.bits == 1 else dtype.to_bits(values)
    return packed_bytearray(patterns, dtype.bits, reverse_inner=True, reverse_endian=True)


def run_partition(accelerator: Accelerator, x: np.ndarray) -> np.ndarray:
    """Stream values at the partition input -> values at its output."""
    return accelerator.run_stream(x)[accelerator.output_name]


class SimDevice:
    """See module docstring."""

    name = "sim"

    def __init__(self, package_dir, spec: dict):
        self.spec, self.package_dir = spec, Path(package_dir)
        self.view = GraphView(load_model(Path(package_dir) / spec["sim"]["dataflow"]))
        self.accelerator = Accelerator(self.view, None)

    def _input_values(self, packed: np.ndarray) -> np.ndarray:
        io_in = self.spec["input"]
        if tuple(np.shape(packed)[1:]) != tuple(io_in["shape_packed"][1:]):
            raise DeployError(f"packed input of shape {np.shape(packed)}, expected (N, {io_in['shape_packed'][1:]})")
        values = decode_stream(packed, io_in)
        return values.reshape((len(packed),) + tuple(self.accelerator.kernels[0].input_shape()))

    def _run(self, accelerator: Accelerator, values: np.ndarray) -> np.ndarray:
        out = run_partition(accelerator, values)
        return encode_stream(np.asarray(out).reshape((len(values),) + tuple(self.spec["output"]["shape_folded"][1:])),
                             self.spec["output"])

    def execute(self, packed: np.ndarray) -> np.ndarray:
        return self._run(self.accelerator, self._input_values(packed))

    def execute_passes(self, packed: np.ndarray, passes: int) -> np.ndarray:
        from bnn2hw.posterior_memory import read_posterior
        from bnn2hw.sim.posterior import layer_samplers, onchip_flips, run_passes
        onchip = self.spec.get("onchip_ensemble")
        if not onchip:
            raise DeployError("this package's accelerator has no posterior sampler (io_spec.json onchip_ensemble)")
        try:
            posterior = read_posterior(self.package_dir / Path(onchip["posterior"]).parent)
        except ValueError as err:
            raise DeployError(str(err)) from None
        samplers = layer_samplers(self.accelerator, posterior)
        members = run_passes(self.accelerator, self._input_values(packed), samplers,
                             onchip_flips(samplers, posterior, passes), run=self._run)
        return np.stack(members, axis=1)

    def load_weights(self, weights: dict) -> None:
        for layer in self.spec["runtime_weights"]["layers"]:
            self.view.initializers[layer["weights_tensor"]] = weights_from_words(weights[layer["name"]], layer)
        self.accelerator = Accelerator(self.view, None)
