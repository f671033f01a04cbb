"""The PYNQ backend (the accelerator through ``pynq``'s DMA and AXI-lite) and the sim backend
(``bnn2hw.sim`` on the same packed streams); both map packed input bytes to packed output bytes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .common import DriverError

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
