"""bnn2hw board driver: runs a bnn2hw accelerator package on a PYNQ board, or on its simulator.

Copied verbatim as ``driver.py`` into every ``bnn2hw deploy`` package. Needs only numpy (1.x or
2.x) and, for ``--backend pynq``, ``pynq``; bnn2hw only for ``--backend sim``. Contract:
* ``python driver.py --inputs images.npy [--batch N] [--backend pynq|sim] [--ensemble K]
  [--output labels.npy]`` checks the raw uint8 images (shape ``io_spec.image.shape`` with a
  leading batch axis, values 0..255), applies the software layout ops (``preprocess``),
  folds and packs them into the input DMA's stream format, runs them, unpacks the output
  stream and prints/saves the class indices. ``--validate`` runs the bundled test set and
  prints the accuracy; ``--benchmark`` prints images/s and per-batch latency.
* Packing is FINN's ``finnpy_to_packed_bytearray(x, dt, reverse_inner=True,
  reverse_endian=True)`` (what FINN's PYNQ driver sends): each stream word of ``k`` elements of
  ``b`` bits is the integer ``sum(pattern[i] << i*b)`` (element 0 least significant), written as
  ``ceil(k*b/8)`` little-endian bytes; BIPOLAR -1/+1 is bit 0/1, INTn is two's complement.
  ``unpack_stream`` is the inverse (``packed_bytearray_to_finnpy``). Backends map packed input
  bytes to packed output bytes (``execute``) and take runtime weights (``load_weights``).
* ``--ensemble K`` loads posterior sample k = 0..K-1 (``weights/sample_k/*.dat``, FINN's
  runtime-weight files) into the runtime-writable weight memories, runs every input under each
  and returns the majority vote of the K predicted labels (ties: lowest class index; the
  hardware outputs labels, not scores, so votes are what a board can average). The vote share
  of the winner is printed as the ensemble's agreement.
* Anything unusable raises ``DriverError`` (printed as ``error: ...``, exit status 2): wrong
  image shape, dtype or range; files that do not match the build's checksum in io_spec.json;
  the pynq backend without pynq or without a bitfile; a missing weight sample.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SPEC_FILE = "io_spec.json"


class DriverError(Exception):
    """A request the driver refuses; the message says why and what to do."""


# ---- FINN datatypes and stream packing (finn.util.data_packing, reimplemented) ----

def datatype(name: str) -> tuple[int, bool, bool]:
    """(bits, signed, bipolar) of a FINN integer DataType name: BIPOLAR, BINARY, UINTn, INTn."""
    name = name.replace("DataType[", "").strip("]'\"")
    if name == "BIPOLAR":
        return 1, False, True
    if name == "BINARY":
        return 1, False, False
    for prefix, signed in (("UINT", False), ("INT", True)):
        if name.startswith(prefix) and name[len(prefix):].isdigit():
            return int(name[len(prefix):]), signed, False
    raise DriverError(f"datatype {name} is not supported by this driver (integer types only)")


def value_range(name: str) -> tuple[int, int]:
    bits, signed, bipolar = datatype(name)
    return (-1, 1) if bipolar else (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def to_patterns(values: np.ndarray, name: str) -> np.ndarray:
    """Integer values -> unsigned bit patterns (BIPOLAR: -1 -> 0, +1 -> 1; INTn: two's complement)."""
    (bits, _, bipolar), values = datatype(name), np.asarray(values).astype(np.int64)
    return (values + 1) // 2 if bipolar else values & ((1 << bits) - 1)


def from_patterns(patterns: np.ndarray, name: str) -> np.ndarray:
    bits, signed, bipolar = datatype(name)
    patterns = patterns.astype(np.int64)
    return 2 * patterns - 1 if bipolar else patterns - ((patterns >> (bits - 1)) << bits) if signed else patterns


def pack_stream(folded: np.ndarray, name: str) -> np.ndarray:
    """(..., k) values -> uint8 (..., ceil(k*bits/8)): the input DMA's bytes (module docstring)."""
    bits = datatype(name)[0]
    patterns = to_patterns(folded, name)
    if bits == 8:
        return patterns.astype(np.uint8)
    planes = ((patterns[..., None] >> np.arange(bits)) & 1).astype(np.uint8).reshape(patterns.shape[:-1] + (-1,))
    return np.packbits(planes, axis=-1, bitorder="little")


def unpack_stream(packed: np.ndarray, name: str, folded_shape) -> np.ndarray:
    """uint8 (..., bytes) -> int64 values of shape ``folded_shape``; inverse of ``pack_stream``."""
    bits, packed, k = datatype(name)[0], np.asarray(packed, dtype=np.uint8), int(folded_shape[-1])
    if bits == 8:
        patterns = packed[..., :k].astype(np.int64)
    else:
        flat = np.unpackbits(packed, axis=-1, bitorder="little")[..., :k * bits]
        planes = flat.reshape(flat.shape[:-1] + (k, bits)).astype(np.int64)
        patterns = (planes << np.arange(bits)).sum(axis=-1)
    return from_patterns(patterns, name).reshape(tuple(folded_shape))


# ---- the package: spec, checksum, inputs ----

def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def build_checksum(file_digests: dict) -> str:
    """sha256 over ``name:sha256`` lines of the build's identifying files, sorted by name."""
    lines = "".join(f"{name}:{file_digests[name]}\n" for name in sorted(file_digests))
    return hashlib.sha256(lines.encode()).hexdigest()


def load_spec(package: Path) -> dict:
    path = package / SPEC_FILE
    if not path.is_file():
        raise DriverError(f"{path}: no such file; run driver.py from an unpacked bnn2hw deploy package")
    return json.loads(path.read_text())


def _digest(package: Path, rel: str) -> str:
    path = package / rel
    if not path.is_file():
        raise DriverError(f"{path}: missing from the package (io_spec.json lists it)")
    return sha256_file(path)


def check_package(spec: dict, package: Path) -> None:
    """The build's files (dataflow graph, bitfile) give io_spec's build checksum; every other
    listed file (test data, weights, .hwh) has its recorded sha256."""
    build = spec["build"]
    digests = {name: _digest(package, rel) for name, rel in build["files"].items()}
    if build_checksum(digests) != build["sha256"]:
        raise DriverError(f"this package's {' and '.join(sorted(digests))} do not belong to the build "
                          f"io_spec.json describes (checksum mismatch, expected {build['sha256'][:16]}...): "
                          f"a package from another build? Re-run bnn2hw deploy")
    for rel, expected in spec.get("manifest", {}).items():
        if _digest(package, rel) != expected:
            raise DriverError(f"{package / rel}: sha256 differs from io_spec.json's (changed, or from "
                              f"another package); re-run bnn2hw deploy")


def check_images(images, spec: dict) -> np.ndarray:
    """Raw images (N, *image.shape), any integer dtype with values 0..255 -> uint8; else DriverError."""
    expected = tuple(spec["image"]["shape"])
    images = np.asarray(images)
    if images.ndim == len(expected):
        images = images[None]
    if tuple(images.shape[1:]) != expected:
        raise DriverError(f"images have shape {images.shape}; this accelerator takes (N, "
                          f"{', '.join(map(str, expected))}) raw images")
    if images.dtype.kind not in "ui":
        raise DriverError(f"images have dtype {images.dtype}; give raw uint8 pixels (0..255), not "
                          f"normalised floats")
    if images.size and (int(images.min()) < 0 or int(images.max()) > 255):
        raise DriverError(f"pixel values {int(images.min())}..{int(images.max())} out of range 0..255")
    return images.astype(np.uint8)


def apply_layout_ops(x: np.ndarray, ops: list) -> np.ndarray:
    """The software layout ops between the raw images and the accelerator (batch-aware)."""
    for op in ops:
        if op["op"] == "Transpose":
            x = np.transpose(x, op["perm"])
        elif op["op"] == "Flatten":
            axis = int(op.get("axis", 1))
            x = x.reshape(int(np.prod(x.shape[:axis])), -1)
        elif op["op"] == "Reshape":
            x = x.reshape([len(x)] + [int(v) for v in op["shape"][1:]])
        elif op["op"] != "Identity":
            raise DriverError(f"layout op {op['op']} is not supported by this driver")
    return x


def pack_inputs(images: np.ndarray, spec: dict) -> np.ndarray:
    """Checked raw images -> uint8 (N, *shape_packed[1:]) for the input DMA."""
    io = spec["input"]
    x = apply_layout_ops(images, spec["preprocess"])
    low, high = value_range(io["datatype"])
    if x.size and (int(x.min()) < low or int(x.max()) > high):
        raise DriverError(f"input values {int(x.min())}..{int(x.max())} do not fit the accelerator's "
                          f"input type {io['datatype']}")
    folded = x.reshape((len(x),) + tuple(io["shape_folded"][1:]))
    return pack_stream(folded, io["datatype"])


def unpack_outputs(packed: np.ndarray, spec: dict) -> np.ndarray:
    """Output DMA bytes (N, *shape_packed[1:]) -> values (N, *shape_normal[1:])."""
    io = spec["output"]
    shape = (len(packed),) + tuple(io["shape_folded"][1:])
    values = unpack_stream(packed, io["datatype"], shape)
    return values.reshape((len(packed),) + tuple(io["shape_normal"][1:]))


def read_weight_file(path: Path) -> np.ndarray:
    """FINN ``decoupled_runtime`` .dat (one 32-bit hex word per line) -> uint32 words."""
    return np.array([int(x, 16) for x in path.read_text().split()], dtype=np.uint32)


def sample_weights(spec: dict, package: Path, k) -> dict:
    """{layer name: uint32 words} of posterior sample ``k`` (an int), or of the mode (``"mode"``)."""
    rt = spec.get("runtime_weights") or {}
    if k != "mode" and k >= len(rt.get("samples", [])):
        raise DriverError(f"sample {k} requested but this package holds {len(rt.get('samples', []))} "
                          f"weight samples; deploy a build made with runtime-writable weights and samples")
    folder = package / (rt["mode"] if k == "mode" else rt["samples"][k])
    return {layer["name"]: read_weight_file(folder / layer["file"]) for layer in rt["layers"]}


# ---- backends: execute(packed inputs) -> packed outputs, load_weights({layer: words}) ----

class PynqBackend:
    """The accelerator on a PYNQ board: Overlay + idma/odma as FINN's zynq-iodma shell has them."""

    name = "pynq"

    def __init__(self, spec: dict, package: Path, batch: int):
        self.spec, self.batch = spec, batch
        if not spec.get("bitfile"):
            raise DriverError("this package has no bitfile: its build ran without Vivado / Vitis HLS. "
                              "Rebuild on a machine with Vivado (bnn2hw build), deploy again, or use --backend sim")
        bitfile = package / spec["bitfile"]
        try:
            import pynq
        except ImportError:
            raise DriverError("the pynq backend needs a PYNQ board (python package 'pynq' not found); "
                              "copy the package to the board, or use --backend sim") from None
        self.overlay = pynq.Overlay(str(bitfile), download=True)
        self._set_clock(package)
        self.idma = getattr(self.overlay, spec["input"]["dma"])
        self.odma = getattr(self.overlay, spec["output"]["dma"])
        self.ibuf = pynq.allocate(shape=(batch,) + tuple(spec["input"]["shape_packed"][1:]), dtype=np.uint8,
                                  cacheable=True)
        self.obuf = pynq.allocate(shape=(batch,) + tuple(spec["output"]["shape_packed"][1:]), dtype=np.uint8,
                                  cacheable=True)

    def _set_clock(self, package: Path) -> None:
        """fclk0: 100 MHz into FINN's clocking wizard when the design has one, else the build's clock."""
        hwh = package / self.spec["hwh"] if self.spec.get("hwh") else None
        has_wizard = hwh is not None and hwh.is_file() and b'INSTANCE="clk_wiz_0"' in hwh.read_bytes()
        from pynq.ps import Clocks
        Clocks.fclk0_mhz = 100.0 if has_wizard else float(self.spec["build"]["clock_mhz"])

    @staticmethod
    def _start(dma, buf, count: int) -> None:
        address = buf.device_address
        dma.write(0x10, address & 0xFFFFFFFF)
        dma.write(0x14, (address >> 32) & 0xFFFFFFFF)
        dma.write(0x1C, count)
        dma.write(0x00, 1)

    def _run_buffers(self, count: int) -> None:
        if self.odma.read(0x00) & 0x4 == 0:
            raise DriverError("the output DMA is not idle; reload the bitfile (sudo python3 driver.py ...)")
        self._start(self.odma, self.obuf, count)
        self._start(self.idma, self.ibuf, count)
        while self.odma.read(0x00) & 0x2 == 0:
            pass

    def execute(self, packed: np.ndarray) -> np.ndarray:
        out = []
        for start in range(0, len(packed), self.batch):
            chunk = packed[start:start + self.batch]
            self.ibuf[:len(chunk)] = chunk
            self.ibuf.flush()
            self._run_buffers(len(chunk))
            self.obuf.invalidate()
            out.append(np.array(self.obuf[:len(chunk)], dtype=np.uint8))
        return np.concatenate(out) if out else np.zeros((0,) + self.obuf.shape[1:], np.uint8)

    def _weight_ip(self, layer: dict, index: int):
        """The layer's AXI-lite IP: named in io_spec, else the index-th StreamingDataflowPartition_<n>
        (FINN's Floorplan gives each layer with an AXI-lite interface its own partition, in order)."""
        if layer.get("axilite_ip") in self.overlay.ip_dict:
            return getattr(self.overlay, layer["axilite_ip"])
        names = sorted((n for n in self.overlay.ip_dict if n.startswith("StreamingDataflowPartition_")),
                       key=lambda n: int(n.rsplit("_", 1)[1]))
        if index >= len(names):
            raise DriverError(f"the bitfile has {len(names)} runtime-writable weight interfaces, the package "
                              f"{index + 1}+: was the build made with runtime_weights?")
        return getattr(self.overlay, names[index])

    def load_weights(self, weights: dict) -> None:
        """Write each layer's words into its AXI-lite weight memory (FINN's load_runtime_weights)."""
        for index, layer in enumerate(self.spec["runtime_weights"]["layers"]):
            words, mmio = weights[layer["name"]], self._weight_ip(layer, index).mmio
            (getattr(mmio, "write_mm", None) or mmio.write)(0, words.tobytes())  # pynq 3 / pynq 2
            if not np.array_equal(np.array(mmio.array[:len(words)], dtype=np.uint32), words):
                raise DriverError(f"{layer['name']}: weights read back differ from those written")
        self.ibuf[:] = 0  # flush stale weights out of the weight streamers, as FINN's driver does
        self.ibuf.flush()
        self._run_buffers(self.batch)


def SimBackend(spec: dict, package: Path, batch: int):  # noqa: N802 (a backend class, like PynqBackend)
    """The accelerator simulated bit-exactly by bnn2hw.sim (``bnn2hw.deploy.sim_device``), same streams."""
    try:
        from bnn2hw.deploy.sim_device import SimDevice
    except ImportError as err:
        raise DriverError(f"the sim backend needs bnn2hw installed (pip install bnn2hw, or PYTHONPATH); "
                          f"on a board use --backend pynq ({err})") from None
    return SimDevice(package, spec)


# ---- running ----

def classify(backend, images: np.ndarray, spec: dict) -> np.ndarray:
    """Top-1 class per checked image: LabelSelect's first label, or the argmax of raw scores."""
    flat = unpack_outputs(backend.execute(pack_inputs(images, spec)), spec).reshape(len(images), -1)
    return flat[:, 0] if spec["output"]["kind"] == "labels" else np.argmax(flat, axis=1)


def vote(member_labels: np.ndarray, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(K, N) labels -> (majority label (N,), winner's vote share (N,)); ties -> lowest class."""
    counts = np.zeros((member_labels.shape[1], max(classes, int(member_labels.max(initial=0)) + 1)), np.int64)
    for labels in member_labels:
        counts[np.arange(len(labels)), labels] += 1
    return np.argmax(counts, axis=1), counts.max(axis=1) / len(member_labels)


def predict(backend, images, spec: dict, package: Path, ensemble: int | None = None):
    """Class indices of the images (and the ensemble's agreement, or None)."""
    images = check_images(images, spec)
    if not ensemble:
        return classify(backend, images, spec), None
    weights = [sample_weights(spec, package, k) for k in range(ensemble)]

    def member(sample: dict) -> np.ndarray:
        backend.load_weights(sample)
        return classify(backend, images, spec)
    members = [member(sample) for sample in weights]
    backend.load_weights(sample_weights(spec, package, "mode"))  # leave the accelerator as the build made it
    return vote(np.stack(members), len(spec.get("classes") or []))


def benchmark(backend, spec: dict, batch: int, repeats: int = 5) -> dict:
    """images/s over full batches (best of ``repeats``, DMA round trips) and one image's latency."""
    packed = pack_inputs(np.zeros((batch,) + tuple(spec["image"]["shape"]), np.uint8), spec)

    def seconds(x: np.ndarray) -> float:
        t0 = time.perf_counter()
        backend.execute(x)
        return time.perf_counter() - t0
    seconds(packed[:1])
    best, single = min(seconds(packed) for _ in range(repeats)), seconds(packed[:1])
    return {"backend": backend.name, "batch": batch, "images_per_s": batch / best,
            "batch_latency_ms": 1e3 * best, "single_image_latency_ms": 1e3 * single}


def main(argv=None, package: Path = HERE) -> int:
    parser = argparse.ArgumentParser(description="Run a bnn2hw accelerator package (see io_spec.json).")
    parser.add_argument("--inputs", help=".npy of raw uint8 images (N, C, H, W)")
    parser.add_argument("--output", help="save the class indices to this .npy")
    parser.add_argument("--validate", action="store_true", help="accuracy on the bundled test set")
    parser.add_argument("--benchmark", action="store_true", help="images/s and latency")
    parser.add_argument("--backend", choices=("pynq", "sim"), default="pynq")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--ensemble", type=int, default=0, help="vote over K posterior weight samples")
    parser.add_argument("--limit", type=int, help="use only the first N images")
    args = parser.parse_args(argv)
    try:
        return _run(args, Path(package))
    except DriverError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _run(args, package: Path) -> int:
    if args.batch < 1 or args.ensemble < 0:
        raise DriverError("--batch must be >= 1 and --ensemble >= 0")
    if not (args.inputs or args.validate or args.benchmark):
        raise DriverError("nothing to do: give --inputs FILE, --validate or --benchmark")
    spec = load_spec(package)
    check_package(spec, package)
    backend = {"pynq": PynqBackend, "sim": SimBackend}[args.backend](spec, package, args.batch)
    report = {"backend": args.backend}
    if args.inputs:
        images = np.load(args.inputs)[:args.limit]
        labels, agreement = predict(backend, images, spec, package, args.ensemble)
        names = spec.get("classes") or []
        report["labels"] = labels.tolist()
        report["classes"] = [names[i] if i < len(names) else str(i) for i in labels.tolist()]
    if args.validate:
        if not spec.get("test_data"):
            raise DriverError("this package has no test data (its build named no dataset); use --inputs")
        data = np.load(package / spec["test_data"])
        images, truth = data["images"][:args.limit], data["labels"][:args.limit]
        labels, agreement = predict(backend, images, spec, package, args.ensemble)
        report.update(images=int(len(labels)), accuracy=float(np.mean(labels == truth)) if len(labels) else 0.0)
        if agreement is not None:
            report.update(ensemble=args.ensemble, mean_agreement=float(agreement.mean()))
    if args.output and (args.inputs or args.validate):
        np.save(args.output, labels)
    if args.benchmark:
        report["benchmark"] = benchmark(backend, spec, args.batch)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
