"""The uart backend: bnn2hw's UART shell on an ECP5 board, over ``pyserial`` (see below).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .common import DriverError

# ---- uart backend: bnn2hw's UART shell on an ECP5 board (begin) ----
# Protocol (hw/shell/bnn2hw_uart_shell.sv, bnn2hw/eda/shell.py): 8N1; per image the host sends
# A5, the image's packed input bytes, CRC-8(payload); the board answers 5A, the packed output
# bytes, CRC-8(output), or EE, error code. CRC-8/SMBUS: polynomial 0x07, initial 0, no final XOR.
# The on-chip ensemble (a bitstream whose accelerator has the posterior sampler): A6, K as two
# bytes little-endian, the payload, CRC-8(K's bytes + payload); the board answers K replies,
# pass 0 first. A bitstream without the sampler answers an A6 frame with EE 06.

UART_START, UART_START_PASSES, UART_OK, UART_ERROR = 0xA5, 0xA6, 0x5A, 0xEE
UART_NO_SAMPLER = 6
UART_ERRORS = {1: "CRC mismatch (a corrupted byte)", 2: "timeout inside a frame (a lost byte)",
               3: "framing error (wrong baud rate or line noise)",
               4: "overrun (frames sent faster than the accelerator takes them)",
               5: "no start byte where a frame begins",
               UART_NO_SAMPLER: "ensemble frame to a bitstream without the posterior sampler"}


class LineError(DriverError):
    """The line corrupted a frame or its reply: sending the frame again can succeed."""


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


def package_baud(spec: dict) -> int:
    """The baud rate the package's bitstream was built for (``bnn2hw build --baud``; 115200 before it was recorded)."""
    return int((spec.get("build", {}).get("uart") or {}).get("baud") or 115200)


class UartBackend:
    """The accelerator behind bnn2hw's UART shell (``--backend uart --port PORT [--baud N]``).

    ``execute`` sends each image as one frame, up to ``window`` frames ahead of the replies (the
    shell queues them), and returns the replies' output bytes. A frame the line corrupted (an
    error reply, or a reply with a bad CRC) is sent again, with the frames after it, once the shell
    has resynchronised: up to ``retries`` times per window, counted in ``resent``; then, or on
    no reply within the timeout or bytes that are not a reply, ``DriverError`` (the port flushed).
    Inference is idempotent, so a resent frame gives the answer the first would have (an on-chip
    ensemble's passes too: the sampler restarts its generators at every image).
    ``execute_passes(packed, K)`` sends ensemble frames and returns (N, K, *output) bytes, pass by
    pass; error 6 (no sampler on the board) is not a line error: ``DriverError`` at once.
    ``port`` is anything pyserial opens: a device (/dev/ttyUSB0, COM3) or a URL."""

    name = "uart"
    RESYNC_S = 0.1   # longer than the shell's inter-byte timeout (20 ms by default)

    def __init__(self, spec: dict, package: Path, batch: int, port: str | None = None, baud: int | None = None,
                 window: int = 4, timeout: float | None = None, retries: int = 2):
        if not port:
            raise DriverError("--backend uart needs --port PORT (the board's serial port, e.g. /dev/ttyUSB0)")
        try:
            import serial
        except ImportError:
            raise DriverError("the uart backend needs pyserial (pip install pyserial)") from None
        self.in_shape = tuple(spec["input"]["shape_packed"][1:])
        self.out_shape = tuple(spec["output"]["shape_packed"][1:])
        self.in_bytes, self.out_bytes = int(np.prod(self.in_shape)), int(np.prod(self.out_shape))
        self.window, self.baud = max(1, int(window)), int(baud or package_baud(spec))
        self.retries, self.resent = max(0, int(retries)), 0
        self.timeout_given = timeout
        self.timeout = self._timeout(1)
        try:
            self.serial = serial.serial_for_url(port, baudrate=self.baud, timeout=self.timeout)
        except (serial.SerialException, ValueError) as err:
            raise DriverError(f"cannot open serial port {port}: {err}") from None
        self.port = port
        self.serial.reset_input_buffer()

    def _timeout(self, replies: int) -> float:
        """Seconds to wait for a reply: the given timeout, else a window of frames and their replies, twice."""
        frame_s = 10 * (self.in_bytes + 4 + replies * (self.out_bytes + 2)) / self.baud
        return self.timeout_given if self.timeout_given is not None else 1.0 + 2 * self.window * frame_s

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
                raise LineError(f"reply with a bad CRC from {self.port}: the line is corrupting bytes")
            return body[:-1]
        if head == UART_ERROR:
            code = self._read(1)[0]
            self._resync()
            if code == UART_NO_SAMPLER:
                raise DriverError(f"the board on {self.port} refused an ensemble frame (error {code}): its "
                                  f"bitstream has no posterior sampler; rebuild from a --posterior-bits compile")
            raise LineError(f"the board reported error {code}: {UART_ERRORS.get(code, 'unknown error')}")
        self._resync()
        raise DriverError(f"unexpected byte 0x{head:02X} from {self.port} (not a reply): wrong baud rate, "
                          f"or another program on the port?")

    def execute(self, packed: np.ndarray) -> np.ndarray:
        return self._frames(packed, None)[:, 0].reshape((len(packed),) + self.out_shape)

    def execute_passes(self, packed: np.ndarray, passes: int) -> np.ndarray:
        if not 1 <= int(passes) <= 0xFFFF:
            raise DriverError(f"passes K = {passes}: the frame header holds 1 .. 65535")
        self.serial.timeout = self.timeout = self._timeout(int(passes))
        try:
            out = self._frames(packed, int(passes))
        finally:
            self.serial.timeout = self.timeout = self._timeout(1)
        return out.reshape((len(packed), int(passes)) + self.out_shape)

    def _frames(self, packed: np.ndarray, passes: int | None) -> np.ndarray:
        """(N, max(passes, 1), output bytes): every image's replies, ``window`` frames at a time."""
        packed = np.ascontiguousarray(packed, dtype=np.uint8)
        if tuple(packed.shape[1:]) != self.in_shape:
            raise DriverError(f"packed input of shape {packed.shape}, expected (N, {self.in_shape})")
        rows = packed.reshape(len(packed), -1)
        out = np.zeros((len(rows), passes or 1, self.out_bytes), np.uint8)
        for start in range(0, len(rows), self.window):
            self._exchange(rows[start:start + self.window], out[start:start + self.window], passes)
        return out

    @staticmethod
    def frame(row: np.ndarray, passes: int | None) -> bytes:
        """An A5 frame of one image; with ``passes`` an A6 frame (K little-endian, under the CRC)."""
        body = row.tobytes() if passes is None else int(passes).to_bytes(2, "little") + row.tobytes()
        return bytes([UART_START if passes is None else UART_START_PASSES]) + body + bytes([crc8(body)])

    def _exchange(self, chunk: np.ndarray, out: np.ndarray, passes: int | None) -> None:
        """Frames of ``chunk`` out, replies into ``out`` (frame, pass) in order; after a corrupted
        frame the shell has dropped the frames behind it too, so they are all sent again (a frame
        whose passes came back only in part too)."""
        done, failures = 0, 0
        while done < len(chunk):
            self.serial.write(b"".join(self.frame(row, passes) for row in chunk[done:]))
            try:
                while done < len(chunk):
                    for k in range(passes or 1):
                        out[done, k] = np.frombuffer(self._reply(), np.uint8)
                    done += 1
            except LineError as err:
                failures += 1
                if failures > self.retries:
                    raise DriverError(f"{err} (still after {self.retries} resends)") from None
                self.resent += len(chunk) - done

    def load_weights(self, weights: dict) -> None:
        raise DriverError("the UART shell has no weight port: --ensemble needs --backend pynq or sim")

# ---- uart backend (end) ----
