"""A stand-in for the ``pynq`` package, to test the driver's pynq backend up to the device boundary.

``install(monkeypatch)`` puts modules ``pynq`` and ``pynq.ps`` into ``sys.modules``. The fake
``Overlay(bitfile)`` exposes ``idma0`` / ``odma0`` (register files with FINN's IODMA protocol:
address at 0x10/0x14, count at 0x1C, start at 0x00, status bit 0x2 done / 0x4 idle) and one
``StreamingDataflowPartition_<n>`` per runtime-weight layer with an AXI-lite ``mmio``. Starting
the input DMA runs the device: the packed bytes of the input buffer go through ``bnn2hw``'s
simulator (with whatever weights were written to the MMIO memories) into the output buffer.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np

from bnn2hw.deploy.sim_device import SimDevice


class Buffer(np.ndarray):
    device_address = 0
    flushed = invalidated = 0

    def flush(self):
        self.flushed += 1

    def invalidate(self):
        self.invalidated += 1


class Memory:
    buffers: dict[int, Buffer] = {}
    next_address = 0x1000_0000


def allocate(shape, dtype=np.uint8, cacheable=True, target=None):
    buf = np.zeros(shape, dtype).view(Buffer)
    buf.device_address = Memory.next_address
    Memory.next_address += 0x100_0000
    Memory.buffers[buf.device_address] = buf
    return buf


class MMIO:
    def __init__(self, words: int):
        self.array = np.zeros(words, np.uint32)
        self.writes = 0

    def write_mm(self, offset: int, data: bytes):
        words = np.frombuffer(data, dtype="<u4")
        self.array[offset // 4:offset // 4 + len(words)] = words
        self.writes += 1


class DMA:
    def __init__(self, overlay, is_input: bool):
        self.overlay, self.is_input, self.regs, self.log = overlay, is_input, {0x00: 0x4}, []

    def read(self, offset: int) -> int:
        return self.regs.get(offset, 0)

    def write(self, offset: int, value: int):
        self.log.append((offset, value))
        self.regs[offset] = value
        if offset == 0x00 and value == 1:
            self.regs[0x00] = 0x1 if not self.is_input else 0x4
            if self.is_input:
                self.overlay.run()

    def buffer(self) -> Buffer:
        return Memory.buffers[self.regs[0x10] | (self.regs[0x14] << 32)]


class Overlay:
    instances: list = []

    def __init__(self, bitfile: str, download: bool = True):
        path = Path(bitfile)
        if not path.is_file():
            raise OSError(f"{bitfile} not found")
        self.package = path.parent.parent
        self.spec = json.loads((self.package / "io_spec.json").read_text())
        self.device = SimDevice(self.package, self.spec)
        self.idma0, self.odma0 = DMA(self, True), DMA(self, False)
        self.ip_dict = {"idma0": {}, "odma0": {}}
        self.layers = (self.spec.get("runtime_weights") or {}).get("layers", [])
        for k, layer in enumerate(self.layers):
            name = f"StreamingDataflowPartition_{k + 2}"
            self.ip_dict[name] = {}
            setattr(self, name, types.SimpleNamespace(mmio=MMIO(layer["words"])))
        self.runs = 0
        Overlay.instances.append(self)

    def run(self):
        if self.layers and any(getattr(self, f"StreamingDataflowPartition_{k + 2}").mmio.writes for k in range(len(self.layers))):
            self.device.load_weights({layer["name"]: getattr(self, f"StreamingDataflowPartition_{k + 2}").mmio.array
                                      for k, layer in enumerate(self.layers)})
        count = self.idma0.regs[0x1C]
        assert self.odma0.regs[0x1C] == count
        ibuf, obuf = self.idma0.buffer(), self.odma0.buffer()
        obuf[:count] = self.device.execute(np.asarray(ibuf[:count]))
        self.odma0.regs[0x00] = 0x2 | 0x4
        self.runs += 1


def install(monkeypatch) -> types.ModuleType:
    pynq = types.ModuleType("pynq")
    pynq.Overlay, pynq.allocate = Overlay, allocate
    ps = types.ModuleType("pynq.ps")
    ps.Clocks = type("Clocks", (), {"fclk0_mhz": 50.0})
    pynq.ps = ps
    Overlay.instances = []
    monkeypatch.setitem(sys.modules, "pynq", pynq)
    monkeypatch.setitem(sys.modules, "pynq.ps", ps)
    return pynq
