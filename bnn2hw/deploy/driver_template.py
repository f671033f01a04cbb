"""bnn2hw board driver: runs a bnn2hw accelerator package on a PYNQ board, or on its simulator.

Copied verbatim as ``driver.py`` into every ``bnn2hw deploy`` package. Needs only numpy (1.x or
2.x) and, for ``--backend pynq``, ``pynq``; for ``--backend uart --port PORT [--baud N]``
(bnn2hw's UART shell on an ECP5 board), ``pyserial``; bnn2hw only for ``--backend sim``. Contract:
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
* ``package.sha256`` (``sha256sum`` format: ``<sha256>  <path>`` a line) lists every file of the
  package, ``io_spec.json`` and ``driver.py`` included; the driver checks it, and io_spec.json's
  shape (``check_spec``: keys, output kind, class names, a manifest covering the test data and
  weights), before anything runs.
* Exit status: 0 done; 1 ``--validate`` ran and the labels differ from the simulator's labels
  bundled with the test data (``expected``: the board is not bit-exact); 2 refused. Anything
  unusable raises ``DriverError`` (printed as ``error: ...``, exit status 2): a missing or
  non-``.npy`` ``--inputs`` file, an object array, an empty batch, a count below 1; wrong image
  shape, dtype or range; an io_spec.json that is not JSON or lacks a key; files that do not match
  the build's checksum, the manifest or package.sha256; the pynq backend without pynq or without a
  bitfile; a missing weight sample.
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
SPEC_FILE, CHECKSUM_FILE, FORMAT = "io_spec.json", "package.sha256", "bnn2hw-deploy/1"
EXIT_OK, EXIT_MISMATCH, EXIT_REFUSED = 0, 1, 2
# io_spec.json: required keys (top level, then of each stream side)
SPEC_KEYS = ("format", "build", "image", "preprocess", "input", "output", "manifest")
SIDE_KEYS = ("datatype", "shape_normal", "shape_folded", "shape_packed")


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
    """io_spec.json, parsed and checked (``check_spec``)."""
    path = package / SPEC_FILE
    if not path.is_file():
        raise DriverError(f"{path}: no such file; run driver.py from an unpacked bnn2hw deploy package")
    try:
        spec = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DriverError(f"{path}: not valid JSON ({err}); re-run bnn2hw deploy") from None
    check_spec(spec, path)
    return spec


def _require(mapping, keys, where: str) -> None:
    if not isinstance(mapping, dict):
        raise DriverError(f"{where} must be a JSON object, found {type(mapping).__name__}")
    missing = [k for k in keys if k not in mapping]
    if missing:
        raise DriverError(f"{where} lacks {', '.join(missing)}; re-run bnn2hw deploy")


def check_spec(spec: dict, path: Path) -> None:
    """Refuse an io_spec.json this driver cannot trust: missing keys, an unknown format or output
    kind, class names that are not distinct strings, a manifest that leaves out bundled files."""
    _require(spec, SPEC_KEYS, str(path))
    if spec["format"] != FORMAT:
        raise DriverError(f"{path}: format {spec['format']!r}, this driver reads {FORMAT!r}")
    _require(spec["build"], ("sha256", "files"), f"{path}: build")
    if not isinstance(spec["build"]["files"], dict) or "dataflow.onnx" not in spec["build"]["files"]:
        raise DriverError(f"{path}: build.files must name the build's dataflow.onnx (and bitfile)")
    _require(spec["image"], ("shape",), f"{path}: image")
    for side in ("input", "output"):
        _require(spec[side], SIDE_KEYS, f"{path}: {side}")
        datatype(str(spec[side]["datatype"]))
    output = spec["output"]
    if output.get("kind") not in ("labels", "scores"):
        raise DriverError(f"{path}: output.kind must be 'labels' or 'scores', found {output.get('kind')!r}")
    if output["kind"] == "labels" and int(np.prod(output["shape_normal"][1:])) != 1:
        raise DriverError(f"{path}: output.kind 'labels' but the output has shape {output['shape_normal']}")
    classes = spec.get("classes")
    if classes is not None and (not isinstance(classes, list) or not all(isinstance(c, str) for c in classes)
                                or len(set(classes)) != len(classes) or not classes):
        raise DriverError(f"{path}: classes must be a list of distinct class names")
    if output["kind"] == "scores" and classes and int(output["shape_normal"][-1]) != len(classes):
        raise DriverError(f"{path}: {len(classes)} class names for {output['shape_normal'][-1]} scores")
    if not isinstance(spec["manifest"], dict):
        raise DriverError(f"{path}: manifest must be a JSON object")
    rt = spec.get("runtime_weights") or {}
    bundled = [spec.get("test_data")] + [f"{folder}/{layer['file']}" for folder in
                                         [rt.get("mode")] * bool(rt) + list(rt.get("samples", []))
                                         for layer in rt.get("layers", [])]
    unlisted = [rel for rel in bundled if rel and rel not in spec["manifest"]]
    if unlisted:
        raise DriverError(f"{path}: manifest lacks {', '.join(unlisted)}: their checksums would go unchecked; "
                          f"re-run bnn2hw deploy")


def check_checksums(package: Path) -> None:
    """Every file listed in package.sha256 has its sha256; io_spec.json and driver.py are listed."""
    path = package / CHECKSUM_FILE
    if not path.is_file():
        raise DriverError(f"{path}: no such file; the package cannot be checked (re-run bnn2hw deploy)")
    listed = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        digest, _, rel = line.partition("  ")
        if len(digest) != 64 or not rel or rel.startswith("/") or ".." in Path(rel).parts:
            raise DriverError(f"{path}: line {number} is not '<sha256>  <relative path>'")
        listed[rel] = digest
    for required in (SPEC_FILE, "driver.py"):
        if required not in listed:
            raise DriverError(f"{path}: does not list {required}; re-run bnn2hw deploy")
    for rel, digest in listed.items():
        if _digest(package, rel, CHECKSUM_FILE) != digest:
            raise DriverError(f"{package / rel}: sha256 differs from {CHECKSUM_FILE}'s (changed since bnn2hw "
                              f"deploy wrote it); re-run bnn2hw deploy")


def _digest(package: Path, rel: str, listed_in: str = SPEC_FILE) -> str:
    path = package / rel
    if not path.is_file():
        raise DriverError(f"{path}: missing from the package ({listed_in} lists it)")
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
    check_checksums(package)


def load_images(path: str, limit: int | None) -> np.ndarray:
    """The ``--inputs`` .npy (no pickles), first ``limit`` images; refuses what is not an image batch."""
    if not Path(path).is_file():
        raise DriverError(f"--inputs {path}: no such file" if not Path(path).exists() else
                          f"--inputs {path}: not a file")
    try:
        images = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise DriverError(f"--inputs {path}: not a .npy array of raw images ({err})") from None
    if not isinstance(images, np.ndarray):
        images.close()
        raise DriverError(f"--inputs {path}: an .npz archive; save one array with numpy.save")
    if images.ndim == 0 or images.size == 0:
        raise DriverError(f"--inputs {path}: no images (shape {images.shape})")
    return images[:limit]


def check_images(images, spec: dict) -> np.ndarray:
    """Raw images (N, *image.shape), any integer dtype with values 0..255 -> uint8; else DriverError."""
    expected = tuple(spec["image"]["shape"])
    images = np.asarray(images)
    if images.ndim == len(expected):
        images = images[None]
    if tuple(images.shape[1:]) != expected:
        raise DriverError(f"images have shape {images.shape}; this accelerator takes (N, "
                          f"{', '.join(map(str, expected))}) raw images")
    if len(images) == 0:
        raise DriverError("no images to run (an empty batch)")
    if images.dtype.kind not in "ui":
        raise DriverError(f"images have dtype {images.dtype}; give raw integer pixels 0..255 (uint8), not "
                          f"normalised floats or booleans")
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
        from bnn2hw.deploy.io_spec import DeployError
        from bnn2hw.deploy.sim_device import SimDevice
        from bnn2hw.sim.datatypes import SimError
    except ImportError as err:
        raise DriverError(f"the sim backend needs bnn2hw installed (pip install bnn2hw, or PYTHONPATH); "
                          f"on a board use --backend pynq ({err})") from None
    if not (spec.get("sim") or {}).get("dataflow"):
        raise DriverError("io_spec.json names no sim/dataflow.onnx: this package has no sim backend")
    try:
        return SimDevice(package, spec)
    except (DeployError, SimError, OSError) as err:
        raise DriverError(f"the sim backend cannot load {package / spec['sim']['dataflow']}: {err}") from None


# ---- uart backend: bnn2hw's UART shell on an ECP5 board (begin) ----
# Protocol (hw/shell/bnn2hw_uart_shell.sv, bnn2hw/eda/shell.py): 8N1; per image the host sends
# A5, the image's packed input bytes, CRC-8(payload); the board answers 5A, the packed output
# bytes, CRC-8(output), or EE, error code. CRC-8/SMBUS: polynomial 0x07, initial 0, no final XOR.

UART_START, UART_OK, UART_ERROR = 0xA5, 0x5A, 0xEE
UART_ERRORS = {1: "CRC mismatch (a corrupted byte)", 2: "timeout inside a frame (a lost byte)",
               3: "framing error (wrong baud rate or line noise)",
               4: "overrun (frames sent faster than the accelerator takes them)",
               5: "no start byte where a frame begins"}


def _crc8_table() -> list:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return table


CRC8_TABLE = _crc8_table()


def crc8(data: bytes) -> int:
    """CRC-8/SMBUS of ``data`` (``crc8(b"123456789") == 0xF4``), the UART shell's checksum."""
    crc = 0
    for byte in bytes(data):
        crc = CRC8_TABLE[crc ^ byte]
    return crc


class UartBackend:
    """The accelerator behind bnn2hw's UART shell (``--backend uart --port PORT [--baud N]``).

    ``execute`` sends each image as one frame, up to ``window`` frames ahead of the replies (the
    shell queues them), and returns the replies' output bytes; an error reply, a reply with a bad
    CRC, or no reply within the timeout raises ``DriverError`` (after waiting for the shell to
    resynchronise and flushing the port). ``port`` is anything pyserial opens: a device
    (/dev/ttyUSB0, COM3) or a URL."""

    name = "uart"
    RESYNC_S = 0.1   # longer than the shell's inter-byte timeout (20 ms by default)

    def __init__(self, spec: dict, package: Path, batch: int, port: str | None = None, baud: int = 115200,
                 window: int = 4, timeout: float | None = None):
        if not port:
            raise DriverError("--backend uart needs --port PORT (the board's serial port, e.g. /dev/ttyUSB0)")
        try:
            import serial
        except ImportError:
            raise DriverError("the uart backend needs pyserial (pip install pyserial)") from None
        self.in_shape = tuple(spec["input"]["shape_packed"][1:])
        self.out_shape = tuple(spec["output"]["shape_packed"][1:])
        self.in_bytes, self.out_bytes = int(np.prod(self.in_shape)), int(np.prod(self.out_shape))
        self.window, self.baud = max(1, int(window)), int(baud)
        frame_s = 10 * (self.in_bytes + self.out_bytes + 4) / self.baud
        self.timeout = timeout if timeout is not None else 1.0 + 2 * self.window * frame_s
        try:
            self.serial = serial.serial_for_url(port, baudrate=self.baud, timeout=self.timeout)
        except (serial.SerialException, ValueError) as err:
            raise DriverError(f"cannot open serial port {port}: {err}") from None
        self.port = port
        self.serial.reset_input_buffer()

    def close(self) -> None:
        self.serial.close()

    def _read(self, count: int) -> bytes:
        data = self.serial.read(count)
        if len(data) < count:
            self._resync()
            raise DriverError(f"no reply from the board on {self.port} within {self.timeout:.1f} s: is the "
                              f"bitstream loaded, the port right and the baud rate {self.baud} the build's?")
        return data

    def _resync(self) -> None:
        time.sleep(self.RESYNC_S)
        self.serial.reset_input_buffer()

    def _reply(self) -> bytes:
        head = self._read(1)[0]
        if head == UART_OK:
            body = self._read(self.out_bytes + 1)
            if crc8(body[:-1]) != body[-1]:
                self._resync()
                raise DriverError(f"reply with a bad CRC from {self.port}: the line is corrupting bytes")
            return body[:-1]
        if head == UART_ERROR:
            code = self._read(1)[0]
            self._resync()
            raise DriverError(f"the board reported error {code}: {UART_ERRORS.get(code, 'unknown error')}")
        self._resync()
        raise DriverError(f"unexpected byte 0x{head:02X} from {self.port} (not a reply): wrong baud rate, "
                          f"or another program on the port?")

    def execute(self, packed: np.ndarray) -> np.ndarray:
        packed = np.ascontiguousarray(packed, dtype=np.uint8)
        if tuple(packed.shape[1:]) != self.in_shape:
            raise DriverError(f"packed input of shape {packed.shape}, expected (N, {self.in_shape})")
        rows = packed.reshape(len(packed), -1)
        out = np.zeros((len(rows), self.out_bytes), np.uint8)
        for start in range(0, len(rows), self.window):
            chunk = rows[start:start + self.window]
            self.serial.write(b"".join(bytes([UART_START]) + row.tobytes() + bytes([crc8(row.tobytes())])
                                       for row in chunk))
            for i in range(len(chunk)):
                out[start + i] = np.frombuffer(self._reply(), np.uint8)
        return out.reshape((len(rows),) + self.out_shape)

    def load_weights(self, weights: dict) -> None:
        raise DriverError("the UART shell has no weight port: --ensemble needs --backend pynq or sim")

# ---- uart backend (end) ----


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
    parser.add_argument("--backend", choices=("pynq", "sim", "uart"), default="pynq",
                        help="pynq: a PYNQ board; sim: bnn2hw's simulator; uart: bnn2hw's UART shell (ECP5)")
    parser.add_argument("--port", help="uart backend: the board's serial port (/dev/ttyUSB0, COM3, a pyserial URL)")
    parser.add_argument("--baud", type=int, default=115200, help="uart backend: the build's baud rate")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--ensemble", type=int, default=0, help="vote over K posterior weight samples")
    parser.add_argument("--limit", type=int, help="use only the first N images")
    parser.epilog = ("exit status: 0 done; 1 --validate found labels that differ from the simulator's "
                     "(the accelerator is not bit-exact); 2 refused input (error: ... says why)")
    args = parser.parse_args(argv)
    try:
        return _run(args, Path(package))
    except DriverError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_REFUSED
    except OSError as err:  # --output not writable, a package file unreadable
        print(f"error: {err.filename or ''}: {err.strerror or err}", file=sys.stderr)
        return EXIT_REFUSED


def _run(args, package: Path) -> int:
    if args.batch < 1 or args.ensemble < 0:
        raise DriverError("--batch must be >= 1 and --ensemble >= 0")
    if args.limit is not None and args.limit < 1:
        raise DriverError(f"--limit must be >= 1, got {args.limit}")
    if args.output and not Path(args.output).resolve().parent.is_dir():
        raise DriverError(f"--output {args.output}: no such directory {Path(args.output).resolve().parent}")
    if not (args.inputs or args.validate or args.benchmark):
        raise DriverError("nothing to do: give --inputs FILE, --validate or --benchmark")
    spec = load_spec(package)
    check_package(spec, package)
    if args.backend == "uart":
        backend = UartBackend(spec, package, args.batch, port=args.port, baud=args.baud)
    else:
        backend = {"pynq": PynqBackend, "sim": SimBackend}[args.backend](spec, package, args.batch)
    report = {"backend": args.backend}
    status = EXIT_OK
    if args.inputs:
        images = load_images(args.inputs, args.limit)
        labels, agreement = predict(backend, images, spec, package, args.ensemble)
        names = spec.get("classes") or []
        report["labels"] = labels.tolist()
        report["classes"] = [names[i] if i < len(names) else str(i) for i in labels.tolist()]
    if args.validate:
        if not spec.get("test_data"):
            raise DriverError("this package has no test data (its build named no dataset); use --inputs")
        data = np.load(package / spec["test_data"], allow_pickle=False)
        images, truth = data["images"][:args.limit], data["labels"][:args.limit]
        labels, agreement = predict(backend, images, spec, package, args.ensemble)
        report.update(images=int(len(labels)), accuracy=float(np.mean(labels == truth)) if len(labels) else 0.0)
        if agreement is not None:
            report.update(ensemble=args.ensemble, mean_agreement=float(agreement.mean()))
        elif "expected" in data.files:
            mismatches = int(np.count_nonzero(labels != data["expected"][:args.limit]))
            report["mismatches_with_simulator"] = mismatches
            if mismatches:
                status = EXIT_MISMATCH
                print(f"error: {mismatches} of {len(labels)} labels differ from bnn2hw.sim's (bundled in "
                      f"{spec['test_data']}): this accelerator is not bit-exact", file=sys.stderr)
    if args.output and (args.inputs or args.validate):
        np.save(args.output, labels)
    if args.benchmark:
        report["benchmark"] = benchmark(backend, spec, args.batch)
    print(json.dumps(report))
    return status


if __name__ == "__main__":
    sys.exit(main())
