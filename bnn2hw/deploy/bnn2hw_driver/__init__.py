"""The parts of the deploy driver (``driver.py``), copied beside it as ``bnn2hw_driver/`` into every
package: ``common`` (constants, ``DriverError``), ``streams`` (FINN datatypes and stream packing),
``files`` (io_spec.json, checksums, images, weight files), ``ensemble`` (scores -> probabilities),
``backends`` (pynq, sim), ``uart``
(bnn2hw's UART shell). numpy only; ``pynq``, ``pyserial`` and bnn2hw are imported by the backend
that needs them. Everything is re-exported here, so ``driver.X`` reads as one module.
"""

from .common import SPEC_FILE, CHECKSUM_FILE, FORMAT, EXIT_OK, EXIT_MISMATCH, EXIT_REFUSED, SPEC_KEYS, SIDE_KEYS, DriverError
from .streams import datatype, value_range, to_patterns, from_patterns, pack_stream, unpack_stream
from .files import sha256_file, build_checksum, load_spec, check_spec, check_checksums, check_package, load_images, check_images, apply_layout_ops, pack_inputs, unpack_outputs, read_weight_file, sample_weights
from .ensemble import PROB_FLOOR, output_scores, probabilities, average_probabilities, predictive_entropy
from .backends import PynqBackend, SimBackend
from .uart import UART_START, UART_OK, UART_ERROR, UART_ERRORS, CRC8_TABLE, crc8, UartBackend

__all__ = ["SPEC_FILE", "CHECKSUM_FILE", "FORMAT", "EXIT_OK", "EXIT_MISMATCH", "EXIT_REFUSED", "SPEC_KEYS",
           "SIDE_KEYS", "DriverError", "datatype", "value_range", "to_patterns", "from_patterns",
           "pack_stream", "unpack_stream", "sha256_file", "build_checksum", "load_spec", "check_spec",
           "check_checksums", "check_package", "load_images", "check_images", "apply_layout_ops",
           "pack_inputs", "unpack_outputs", "read_weight_file", "sample_weights", "PROB_FLOOR", "output_scores", "probabilities",
           "average_probabilities", "predictive_entropy", "PynqBackend", "SimBackend",
           "UART_START", "UART_OK", "UART_ERROR", "UART_ERRORS", "CRC8_TABLE", "crc8", "UartBackend"]
