"""The driver's constants, exit statuses and ``DriverError`` (numpy-free).
"""

from __future__ import annotations



SPEC_FILE, CHECKSUM_FILE, FORMAT = "io_spec.json", "package.sha256", "bnn2hw-deploy/1"
EXIT_OK, EXIT_MISMATCH, EXIT_REFUSED = 0, 1, 2
# io_spec.json: required keys (top level, then of each stream side)
SPEC_KEYS = ("format", "build", "image", "preprocess", "input", "output", "manifest")
SIDE_KEYS = ("datatype", "shape_normal", "shape_folded", "shape_packed")


class DriverError(Exception):
    """A request the driver refuses; the message says why and what to do."""
